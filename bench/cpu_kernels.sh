#!/usr/bin/env bash
# What cpu_kernels=avx2 (the reproducible default, harness/run/cpu_kernels.h) costs against native:
# the quick start's six split-fmnist runs, in each mode, alternating, REPEATS times; prints each
# pass's seconds and the leaderboard of the first pass of each mode (results in bench/README.md).
#   bench/cpu_kernels.sh [BINARY] [REPEATS]
set -euo pipefail
BIN="${1:-build/clbench}"
REPEATS="${2:-2}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for r in $(seq "$REPEATS"); do
  for mode in avx2 native; do
    start=$(date +%s.%N)
    for m in finetune ewc si lwf er joint; do
      "$BIN" run -b split-fmnist -m "$m" --scenario class-il --seed 0 --out "$out/$mode-$r" \
        --set cpu_kernels="$mode" >/dev/null 2>&1
    done
    end=$(date +%s.%N)
    awk -v m="$mode" -v r="$r" -v a="$start" -v b="$end" 'BEGIN { printf "%s pass %d: %.1f s\n", m, r, b - a }'
  done
done
for mode in avx2 native; do
  echo "## $mode"
  "$BIN" leaderboard "$out/$mode-1" | grep -E '^\| [a-z]'
done
