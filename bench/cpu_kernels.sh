#!/usr/bin/env bash
# What each cpu_kernels mode costs (harness/run/cpu_kernels.h; portable is the default): the
# quick start's six split-fmnist runs (2 threads, as the quick start), in each mode, alternating,
# REPEATS times; prints each pass's seconds and the leaderboard of the first pass of each mode.
# Extra arguments go to every run (e.g. --backbone cnn). Results in bench/README.md.
#   bench/cpu_kernels.sh [BINARY] [REPEATS] [RUN FLAGS...]
set -euo pipefail
BIN="${1:-build/clbench}"
REPEATS="${2:-2}"
shift $(( $# < 2 ? $# : 2 ))
read -r -a MODES <<<"${CLBENCH_MODES:-portable avx2 native}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for r in $(seq "$REPEATS"); do
  for mode in "${MODES[@]}"; do
    start=$(date +%s.%N)
    for m in ${CLBENCH_METHODS:-finetune ewc si lwf er joint}; do
      "$BIN" run -b split-fmnist -m "$m" --scenario class-il --seed 0 --threads 2 \
        --out "$out/$mode-$r" --set cpu_kernels="$mode" "$@" >/dev/null 2>&1
    done
    end=$(date +%s.%N)
    awk -v m="$mode" -v r="$r" -v a="$start" -v b="$end" 'BEGIN { printf "%s pass %d: %.1f s\n", m, r, b - a }'
  done
done
for mode in "${MODES[@]}"; do
  echo "## $mode"
  "$BIN" leaderboard "$out/$mode-1" | grep -E '^\| [a-z]'
done
