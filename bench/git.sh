#!/usr/bin/env bash
# Benchmark of integrations/gitrepo against git itself (not a unit test).
#
# Generates a repository of COMMITS commits (default 20000) with a planted key in ~1% of blob
# versions (bench/genrepo writes a fast-import stream; the result is repacked by `git repack -adf`
# like any real repository), then reports the median of RUNS runs (default 3) of:
#   scan:  gitbench scan                       vs  git cat-file --batch-all-objects --batch | grep -c -F (the floor)
#                                              vs  git log --all -S<key>
#   purge: gitbench purge                      vs  git filter-repo --replace-text
# Targets: scan <= 1.0x the floor, purge <= 0.5x filter-repo, and every branch and tag tree identical to
# filter-repo's except at binary files (which filter-repo does not rewrite).
#
#   bench/git.sh                 # from the repository root
#   COMMITS=5000 RUNS=1 bench/git.sh
set -euo pipefail

COMMITS=${COMMITS:-20000}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gitbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C

if ! command -v git-filter-repo >/dev/null 2>&1; then
	echo "installing git-filter-repo (Debian package)" >&2
	apt-get update -qq >/dev/null && apt-get install -y -qq git-filter-repo >/dev/null
fi

(cd "$ROOT" && go build -o "$WORK/genrepo" ./bench/genrepo && go build -o "$WORK/gitbench" ./bench/gitbench)

echo "generating $COMMITS commits..." >&2
git init -q --bare "$WORK/base.git"
"$WORK/genrepo" -commits "$COMMITS" -secret-out "$WORK/key.txt" | git -C "$WORK/base.git" fast-import --quiet
git -C "$WORK/base.git" repack -adf -q
KEY=$(cat "$WORK/key.txt")
git -C "$WORK/base.git" count-objects -vH | grep -E 'in-pack|size-pack' | tr '\n' ' ' >&2
echo "refs: $(git -C "$WORK/base.git" for-each-ref | wc -l)" >&2

# now: wall-clock seconds with nanoseconds.
now() { date +%s.%N; }
# median of the numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# timeit CMD...: runs CMD RUNS times, prints the median wall time.
timeit() {
	for _ in $(seq "$RUNS"); do
		local s e
		s=$(now)
		"$@" >/dev/null
		e=$(now)
		awk -v e="$e" -v s="$s" 'BEGIN {print e - s}'
	done | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

floor() { git -C "$WORK/base.git" cat-file --batch-all-objects --batch | grep -c -F -f "$WORK/key.txt"; }
gitlog() { git -C "$WORK/base.git" log --all -S"$KEY" --format=%H; }
ourscan() { "$WORK/gitbench" scan -repo "$WORK/base.git" -secret-file "$WORK/key.txt"; }

echo "check: $("$WORK/gitbench" scan -repo "$WORK/base.git" -secret-file "$WORK/key.txt")" >&2
echo "check: git log -S lists $(gitlog | wc -l) commits; cat-file|grep counts $(floor || true) objects" >&2

t_floor=$(timeit floor)
t_log=$(timeit gitlog)
t_scan=$(timeit ourscan)

printf '%s\n' "$KEY" >"$WORK/expressions.txt"
# purge_ours / purge_fr: each run on a fresh copy of the repository (copy not timed).
purge_runs() {
	local which=$1
	for i in $(seq "$RUNS"); do
		rm -rf "$WORK/p.git" "$WORK/maps"
		cp -r "$WORK/base.git" "$WORK/p.git"
		local s e
		s=$(now)
		if [ "$which" = ours ]; then
			"$WORK/gitbench" purge -repo "$WORK/p.git" -secret-file "$WORK/key.txt" -map-dir "$WORK/maps" >"$WORK/purge.out"
		else
			git -C "$WORK/p.git" filter-repo --force --quiet --replace-text "$WORK/expressions.txt" >/dev/null 2>&1
		fi
		e=$(now)
		awk -v e="$e" -v s="$s" 'BEGIN {print e - s}'
		if [ "$i" = 1 ]; then
			# Verify once, untimed: the store is clean and nothing finds the key.
			left=$(git -C "$WORK/p.git" cat-file --batch-all-objects --batch | grep -c -F -f "$WORK/key.txt" || true)
			fsck=$(git -C "$WORK/p.git" fsck --full --no-dangling 2>&1 | grep -v '^notice' | wc -l)
			size=$(git -C "$WORK/p.git" count-objects -vH | awk '/size-pack/ {print $2 $3}')
			out=""
			[ "$which" = ours ] && out=$(cat "$WORK/purge.out")
			echo "verify $which: objects still holding the key=$left fsck-lines=$fsck pack=$size $out" >&2
			rm -rf "$WORK/$which.git"
			cp -r "$WORK/p.git" "$WORK/$which.git"
		fi
	done | median
}
t_purge=$(purge_runs ours)
t_fr=$(purge_runs filter-repo)

# Trees: ours and filter-repo's must be identical wherever both rewrite; filter-repo leaves binary
# blobs alone, so a ref may differ only at binary paths (where filter-repo keeps the key).
same=0 binonly=0 other=0
for ref in $(git -C "$WORK/ours.git" for-each-ref --format='%(refname)' refs/heads refs/tags); do
	a=$(git -C "$WORK/ours.git" rev-parse "$ref^{tree}")
	b=$(git -C "$WORK/filter-repo.git" rev-parse "$ref^{tree}" 2>/dev/null || echo missing)
	if [ "$a" = "$b" ]; then
		same=$((same + 1))
	elif diff <(git -C "$WORK/ours.git" ls-tree -r "$a") <(git -C "$WORK/filter-repo.git" ls-tree -r "$b") |
		awk '/^[<>]/ {print $NF}' | grep -qv '\.bin$'; then
		other=$((other + 1))
		echo "tree of $ref differs from filter-repo's at a text path" >&2
	else
		binonly=$((binonly + 1))
	fi
done

echo
echo "repository: $COMMITS commits, median of $RUNS runs, $(nproc) cores"
printf '%-44s %8.3fs\n' "floor (cat-file --batch-all-objects | grep)" "$t_floor"
printf '%-44s %8.3fs\n' "git log --all -S" "$t_log"
printf '%-44s %8.3fs  %sx floor (target <= 1.0)  %sx git log -S\n' "gitrepo scan" "$t_scan" "$(ratio "$t_scan" "$t_floor")" "$(ratio "$t_scan" "$t_log")"
printf '%-44s %8.3fs\n' "git filter-repo --replace-text" "$t_fr"
printf '%-44s %8.3fs  %sx filter-repo (target <= 0.5)\n' "gitrepo purge" "$t_purge" "$(ratio "$t_purge" "$t_fr")"
echo "ref trees vs filter-repo: $same identical, $binonly differ only at binary files (filter-repo leaves the key there), $other differ elsewhere (target 0)"
