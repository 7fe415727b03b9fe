#!/usr/bin/env bash
# How the history engine's memory grows with the repository (not a unit test).
#
# Runs gitbench scan and purge with the same cache on generated repositories of growing size (the
# shapes and cache of bench/git.sh) and reports peak RSS (/usr/bin/time), the objects in each
# repository, and what each object added between sizes: with indexes and maps spilled past the
# cache, that growth is what is still kept per object (the pack plan), not the whole history. The
# floor of bench/git.sh (git cat-file --batch-all-objects --unordered --batch | grep) is measured
# beside it: what git itself adds per object; and git filter-repo beside the purge (FILTER_REPO=0
# leaves it out: it takes minutes on the largest size).
#
#   bench/gitscale.sh                           # app shape, 5,000 / 20,000 / 80,000 commits, 8 MiB cache
#   SIZES="25000 100000" SHAPE=c bench/gitscale.sh
#   SIZE_CACHE=64MiB RUNS=3 bench/gitscale.sh
set -euo pipefail

SHAPE=${SHAPE:-app}
SIZES=${SIZES:-5000 20000 80000}
SIZE_CACHE=${SIZE_CACHE:-8MiB}
RUNS=${RUNS:-1}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/respond-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gitscale.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
FILTER_REPO=${FILTER_REPO:-1}
[ "$FILTER_REPO" = 0 ] || command -v git-filter-repo >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq git-filter-repo >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq >/dev/null && apt-get install -y -qq time >/dev/null; }

(cd "$ROOT" && go build -o "$WORK/gitbench" ./bench/gitbench)
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# peak CMD...: median peak RSS (KiB) and seconds of RUNS runs.
peak() {
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -f '%M %e' -o "$WORK/t" "$@" >/dev/null
		tail -1 "$WORK/t"
	done >"$WORK/runs"
	echo "$(awk '{print $1}' "$WORK/runs" | median) $(awk '{print $2}' "$WORK/runs" | median)"
}

printf '%-8s %9s %12s %12s %8s %12s %8s %14s\n' commits objects "floor RSS" "scan RSS" "time" "purge RSS" "time" "filter-repo RSS"
prev=""
for n in $SIZES; do
	SHAPE=$SHAPE COMMITS=$n GENERATE_ONLY=1 bash "$ROOT/bench/git.sh" >&2
	id="$SHAPE-$n-$(sha256sum "$ROOT/bench/genrepo/main.go" | cut -c1-12)"
	repo="$CACHE/$id.git" key="$CACHE/$id.key"
	objects=$(git -C "$repo" count-objects -v | awk '/in-pack/ {print $2}')
	read -r mf _ < <(peak bash -c 'git -C "$0" cat-file --batch-all-objects --unordered --batch | grep -c -F -f "$1" || true' "$repo" "$key")
	read -r ms ts < <(peak "$WORK/gitbench" scan -repo "$repo" -secret-file "$key" -cache "$SIZE_CACHE")
	rm -rf "$WORK/p.git" "$WORK/maps"
	cp -r "$repo" "$WORK/p.git"
	read -r mp tp < <(RUNS=1 peak "$WORK/gitbench" purge -repo "$WORK/p.git" -secret-file "$key" -map-dir "$WORK/maps" -cache "$SIZE_CACHE")
	mr=0
	if [ "$FILTER_REPO" != 0 ]; then
		rm -rf "$WORK/p.git"
		cp -r "$repo" "$WORK/p.git"
		printf '%s\n' "$(cat "$key")" >"$WORK/expressions.txt"
		read -r mr _ < <(RUNS=1 peak git -C "$WORK/p.git" filter-repo --force --quiet --replace-text "$WORK/expressions.txt")
	fi
	printf '%-8s %9s %8s MiB %8s MiB %7ss %8s MiB %7ss %10s MiB\n' "$n" "$objects" $((mf / 1024)) $((ms / 1024)) "$ts" $((mp / 1024)) "$tp" $((mr / 1024))
	if [ -n "$prev" ]; then
		read -r po pmf pms pmp pmr <<<"$prev"
		awk -v o="$objects" -v po="$po" -v f="$mf" -v pf="$pmf" -v s="$ms" -v ps="$pms" -v p="$mp" -v pp="$pmp" -v r="$mr" -v pr="$pmr" 'BEGIN {
			d = 1024 / (o - po)
			printf "         bytes added per object: floor %.0f, scan %.0f, purge %.0f, filter-repo %.0f\n", (f - pf) * d, (s - ps) * d, (p - pp) * d, (r - pr) * d }'
	fi
	prev="$objects $mf $ms $mp $mr"
done
echo "cache $SIZE_CACHE, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
