#!/usr/bin/env bash
# Benchmark of integrations/gitrepo against git itself (not a unit test).
#
# Generates a repository with a planted key in ~1% of blob versions (bench/genrepo writes a
# fast-import stream) and caches it under $CACHE (default ~/.cache/respond-bench), keyed by shape,
# commit count and the generator's source, so a second run starts at once. Shapes:
#   app (default, 20,000 commits): an application repository, repacked with `git repack -adf`.
#   c   (BIG=1: 100,000 commits): a long-lived C project with many versions of large files,
#       repacked with `git repack -adf --depth=250` for the deep delta chains real projects have.
# Then reports the median wall time and the median peak RSS (/usr/bin/time: the largest process of
# a pipeline) of RUNS runs (default 3) of:
#   scan:  gitbench scan      vs  git cat-file --batch-all-objects --unordered --batch | grep -c -F (the floor)
#                             vs  git log --all -S<key>    (LOG_RUNS runs, default RUNS)
#   purge: gitbench purge     vs  git filter-repo --replace-text   (PURGE_RUNS runs, default RUNS)
# The floor and the scan alternate, run by run, so that both see the same machine; the scan's
# ratios to the floor are printed for each pair as well as for the medians. GIT_CACHE sets
# gitbench's -cache (the --git-cache of respond; default gitrepo's).
# Targets: scan <= 1.0x the floor's time and peak RSS; purge <= 0.5x filter-repo's time and
# <= 1.0x its peak RSS; every branch and tag tree identical to filter-repo's except at binary files
# (which filter-repo does not rewrite).
#
#   bench/git.sh                          # from the repository root
#   BIG=1 bench/git.sh                    # the 100,000-commit C project
#   COMMITS=5000 RUNS=1 bench/git.sh
#   BIG=1 GENERATE_ONLY=1 bench/git.sh    # build the cached repository and stop
#   BIG=1 SCAN_ONLY=1 RUNS=5 bench/git.sh # the scan rows only
set -euo pipefail

if [ "${BIG:-0}" = 1 ]; then
	SHAPE=${SHAPE:-c}
	COMMITS=${COMMITS:-100000}
fi
SHAPE=${SHAPE:-app}
COMMITS=${COMMITS:-20000}
RUNS=${RUNS:-3}
LOG_RUNS=${LOG_RUNS:-$RUNS}
PURGE_RUNS=${PURGE_RUNS:-$RUNS}
GIT_CACHE=${GIT_CACHE:-}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/respond-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gitbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C

need() { # need COMMAND PACKAGE: installs the Debian package when the command is missing
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "installing $2 (Debian package)" >&2
		apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null
	fi
}
need git-filter-repo git-filter-repo
[ -x /usr/bin/time ] || need /usr/bin/time time

(cd "$ROOT" && go build -o "$WORK/genrepo" ./bench/genrepo && go build -o "$WORK/gitbench" ./bench/gitbench)

# The cached repository: regenerated when the shape, the size or the generator changes.
id="$SHAPE-$COMMITS-$(sha256sum "$ROOT/bench/genrepo/main.go" | cut -c1-12)"
REPO="$CACHE/$id.git"
KEYFILE="$CACHE/$id.key"
if [ ! -f "$REPO/bench-complete" ]; then
	echo "generating $COMMITS commits ($SHAPE) into $REPO ..." >&2
	mkdir -p "$CACHE"
	rm -rf "$REPO.tmp"
	git init -q --bare "$REPO.tmp"
	if [ "$SHAPE" = c ]; then
		# The pack fast-import writes is thrown away by repack -f: compress it as little as possible.
		"$WORK/genrepo" -shape c -commits "$COMMITS" -secret-out "$KEYFILE" |
			git -C "$REPO.tmp" -c core.compression=1 fast-import --quiet --depth=10
		git -C "$REPO.tmp" repack -adf -q --depth=250
	else
		"$WORK/genrepo" -commits "$COMMITS" -secret-out "$KEYFILE" | git -C "$REPO.tmp" fast-import --quiet
		git -C "$REPO.tmp" repack -adf -q
	fi
	touch "$REPO.tmp/bench-complete"
	rm -rf "$REPO"
	mv "$REPO.tmp" "$REPO"
fi
[ "${GENERATE_ONLY:-0}" = 1 ] && exit 0
KEY=$(cat "$KEYFILE")
git -C "$REPO" count-objects -vH | grep -E 'in-pack|size-pack' | tr '\n' ' ' >&2
echo "refs: $(git -C "$REPO" for-each-ref | wc -l)" >&2
export REPO KEYFILE KEY WORK GIT_CACHE

# median of the numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# measure SCRIPT: runs `bash -c SCRIPT` RUNS times; prints the median seconds and the median peak
# RSS in KiB.
measure() {
	local t=$WORK/time.out
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %M' -o "$t" bash -c "$1" >/dev/null
		tail -1 "$t"
	done >"$WORK/runs"
	echo "$(awk '{print $1}' "$WORK/runs" | median) $(awk '{print $2}' "$WORK/runs" | median)"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

floor='git -C "$REPO" cat-file --batch-all-objects --unordered --batch | grep -c -F -f "$KEYFILE" || true'
gitlog='git -C "$REPO" log --all -S"$KEY" --format=%H'
ourscan='"$WORK/gitbench" scan -repo "$REPO" -secret-file "$KEYFILE" ${GIT_CACHE:+-cache "$GIT_CACHE"}'

echo "check: $(bash -c "$ourscan")" >&2
if [ "$LOG_RUNS" -gt 0 ]; then
	echo "check: git log -S lists $(bash -c "$gitlog" | wc -l) commits; cat-file|grep counts $(bash -c "$floor") objects" >&2
fi

mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }
row() { printf '%-40s %8.2fs %6s MiB  %s\n' "$1" "$2" "$(mib "$3")" "${4:-}"; }
echo
echo "repository: $SHAPE shape, $COMMITS commits, $(git -C "$REPO" count-objects -vH | awk '/size-pack/ {print $2 $3}') pack;" \
	"median of $RUNS runs (purge: $PURGE_RUNS), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-40s %9s %10s\n' "" "time" "peak RSS"
# The floor and our scan in alternation: each pair ran on the same machine load.
for i in $(seq "$RUNS"); do
	read -r tf mf < <(RUNS=1 measure "$floor")
	read -r ts ms < <(RUNS=1 measure "$ourscan")
	echo "$tf $mf $ts $ms"
	echo "pair $i: floor ${tf}s $(mib "$mf") MiB, scan ${ts}s $(mib "$ms") MiB: time $(ratio "$ts" "$tf")x, RSS $(ratio "$ms" "$mf")x (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done >"$WORK/pairs"
t_floor=$(awk '{print $1}' "$WORK/pairs" | median)
m_floor=$(awk '{print $2}' "$WORK/pairs" | median)
t_scan=$(awk '{print $3}' "$WORK/pairs" | median)
m_scan=$(awk '{print $4}' "$WORK/pairs" | median)
row "floor (cat-file --unordered | grep)" "$t_floor" "$m_floor"
t_log=0
if [ "$LOG_RUNS" -gt 0 ]; then # LOG_RUNS=0: not measured (it takes minutes on the big repository)
	read -r t_log m_log < <(RUNS=$LOG_RUNS measure "$gitlog")
	row "git log --all -S ($LOG_RUNS runs)" "$t_log" "$m_log"
fi
row "gitrepo scan" "$t_scan" "$m_scan" "time $(ratio "$t_scan" "$t_floor")x floor (target <= 1.0), RSS $(ratio "$m_scan" "$m_floor")x floor (target <= 1.0), time $([ "$t_log" = 0 ] && echo "-" || ratio "$t_scan" "$t_log")x git log -S"
[ "${SCAN_ONLY:-0}" = 1 ] && exit 0

printf '%s\n' "$KEY" >"$WORK/expressions.txt"
# purge_runs ours|filter-repo: each run on a fresh copy of the repository (copy not timed); prints
# the median seconds and peak RSS.
purge_runs() {
	local which=$1 cmd
	if [ "$which" = ours ]; then
		cmd='"$WORK/gitbench" purge -repo "$WORK/p.git" -secret-file "$KEYFILE" -map-dir "$WORK/maps" ${GIT_CACHE:+-cache "$GIT_CACHE"} >"$WORK/purge.out"'
	else
		cmd='git -C "$WORK/p.git" filter-repo --force --quiet --replace-text "$WORK/expressions.txt" >/dev/null 2>&1'
	fi
	for i in $(seq "$PURGE_RUNS"); do
		rm -rf "$WORK/p.git" "$WORK/maps"
		cp -r "$REPO" "$WORK/p.git"
		RUNS=1 measure "$cmd"
		if [ "$i" = 1 ]; then
			# Verify once, untimed: the store is clean and nothing finds the key.
			left=$(git -C "$WORK/p.git" cat-file --batch-all-objects --batch | grep -c -F -f "$KEYFILE" || true)
			# (grep finds nothing in a clean fsck's output and exits 1: under pipefail that ended
			# the whole purge measurement, which is how the BIG=1 table lost its purge rows.)
			fsck=$(git -C "$WORK/p.git" fsck --full --no-dangling 2>&1 | { grep -v '^notice' || true; } | wc -l)
			size=$(git -C "$WORK/p.git" count-objects -vH | awk '/size-pack/ {print $2 $3}')
			out=""
			[ "$which" = ours ] && out=$(cat "$WORK/purge.out")
			echo "verify $which: objects still holding the key=$left fsck-lines=$fsck pack=$size $out" >&2
			rm -rf "${WORK:?}/$which.git"
			mv "$WORK/p.git" "$WORK/$which.git"
		fi
	done >"$WORK/purge-runs"
	echo "$(awk '{print $1}' "$WORK/purge-runs" | median) $(awk '{print $2}' "$WORK/purge-runs" | median)"
}
read -r t_purge m_purge < <(purge_runs ours)
row "gitrepo purge" "$t_purge" "$m_purge"
read -r t_fr m_fr < <(purge_runs filter-repo)
row "git filter-repo --replace-text" "$t_fr" "$m_fr"
row "gitrepo purge vs filter-repo" "$t_purge" "$m_purge" "time $(ratio "$t_purge" "$t_fr")x filter-repo (target <= 0.5), RSS $(ratio "$m_purge" "$m_fr")x filter-repo (target <= 1.0)"

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

echo "ref trees vs filter-repo: $same identical, $binonly differ only at binary files (filter-repo leaves the key there), $other differ elsewhere (target 0)"
