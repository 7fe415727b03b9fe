#!/usr/bin/env bash
# Times the default rehearsal end to end (the README's main command, built once), RUNS times
# (default 5), and prints each wall time, the run's own duration and time to revoke from its
# JSON report, and the medians. Target: the whole rehearsal under 5 s on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/respond" ./cmd/respond
export RESPOND_STATE_DIR="$work/state"
walls=() durs=() revokes=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  "$work/respond" rehearse --json "$work/r$i.json" --slack-transcript "$work/t$i.txt" openai-key-leak >/dev/null 2>&1
  end=$(date +%s%N)
  wall=$(( (end - start) / 1000000 ))
  dur=$(sed -n 's/^  "duration_ms": \([0-9]*\),*/\1/p' "$work/r$i.json")
  ttr=$(sed -n 's/^  "time_to_revoke_ms": \([0-9]*\),*/\1/p' "$work/r$i.json")
  walls+=("$wall") durs+=("$dur") revokes+=("$ttr")
  echo "run $i: wall ${wall} ms (world + run + verification), run ${dur} ms, time to revoke ${ttr} ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median of $runs: wall $(median "${walls[@]}") ms, run $(median "${durs[@]}") ms, time to revoke $(median "${revokes[@]}") ms"
