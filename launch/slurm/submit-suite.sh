#!/usr/bin/env bash
# From a suite file to regenerated tables in one command: submits the suite as a Slurm job array
# (launch/slurm/suite-array.sbatch, one array task per entry) and a leaderboard job that depends on
# it (--dependency=afterany), which writes leaderboard.{json,md,csv,html} into the suite's result
# folder when the whole array has ended, whatever became of each task. Array tasks that are
# preempted or reach their time limit requeue and resume from their checkpoints as before; the
# leaderboard job waits for them. A paper suite's published numbers (published.json next to the
# suite file) are joined to the tables.
#
#   launch/slurm/submit-suite.sh SUITE.json [sbatch options for the array] [-- clbench suite options]
#   launch/slurm/submit-suite.sh launch/suites/paper/der-main-table.json --partition=gpu \
#       --gpus-per-node=1 --time=12:00:00 -- --out runs/der
#
# Prints the two job ids. Environment: CLBENCH_BIN (default build/clbench), CLBENCH_LEADERBOARD_SBATCH
# (extra sbatch options for the leaderboard job, e.g. "--partition=cpu"; it takes one task), and
# CLBENCH_ARRAY_LIMIT (at most that many array tasks at a time: --array=0-N%LIMIT).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { echo "[submit-suite] $*" >&2; }

[[ $# -ge 1 && "$1" != -* ]] || { log "usage: $0 SUITE.json [sbatch options] [-- clbench suite options]"; exit 2; }
suite="$1"
shift
[[ -f "$suite" ]] || { log "error: suite file $suite not found"; exit 2; }
sbatch_args=() suite_args=()
while [[ $# -gt 0 ]]; do
  if [[ "$1" == -- ]]; then
    shift
    suite_args=("$@")
    break
  fi
  sbatch_args+=("$1")
  shift
done

export CLBENCH_ROOT="$ROOT"
bin="${CLBENCH_BIN:-$ROOT/build/clbench}"
[[ -x "$bin" ]] || { log "error: $bin not found (build it, or set CLBENCH_BIN)"; exit 2; }
CLBENCH_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export CLBENCH_BIN

# Every entry is planned (keys, result paths) before anything is submitted.
list="$("$CLBENCH_BIN" suite "$suite" --list "${suite_args[@]}")" || { log "error: the suite does not plan (above)"; exit 2; }
count="$(grep -c '^| [0-9]' <<<"$list" || true)"
((count > 0)) || { log "error: the suite has no entries"; exit 2; }
# The result folder: results are <out>[/<scenario>]/<benchmark>/<label>/seed-<seed>.h5, so the
# deepest folder holding every <out>[/<scenario>] (the suite's out, or --out).
out="$(awk -F' [|] ' '/^[|] [0-9]/ {n = split($7, p, "/"); d = p[1]; for (i = 2; i < n - 2; ++i) d = d "/" p[i];
  if (!seen++) common = d
  while (common != "." && index(d "/", common "/") != 1) if (!sub("/[^/]*$", "", common)) common = "."}
  END {print common}' <<<"$list")"
[[ -n "$out" ]] || out=.
published=()
[[ -f "$(dirname "$suite")/published.json" ]] && published=(--published "$(dirname "$suite")/published.json")

array="0-$((count - 1))${CLBENCH_ARRAY_LIMIT:+%$CLBENCH_ARRAY_LIMIT}"
array_job="$(sbatch --parsable --array="$array" "${sbatch_args[@]}" "$ROOT/launch/slurm/suite-array.sbatch" \
  "$suite" "${suite_args[@]}")"
array_job="${array_job%%;*}"
log "suite $suite: $count runs as array job $array_job (--array=$array)"
# shellcheck disable=SC2086  # CLBENCH_LEADERBOARD_SBATCH is a list of options
board_job="$(sbatch --parsable --dependency="afterany:$array_job" --job-name=clbench-leaderboard -n 1 \
  --output="$out/slurm-leaderboard-%j.out" ${CLBENCH_LEADERBOARD_SBATCH:-} \
  "$ROOT/launch/slurm/leaderboard.sbatch" "$out" "${published[@]}")"
board_job="${board_job%%;*}"
log "leaderboard job $board_job (after the array ends): $out/leaderboard.{json,md,csv,html}"
echo "$array_job $board_job"
