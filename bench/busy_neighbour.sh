#!/usr/bin/env bash
# How clbench's OpenMP wait policy fares on an idle machine and beside busy neighbour processes
# (a compile, another user's job): the quick start's six seed-0 runs (split-fmnist, 2 threads)
# under each policy, with 0, 1 and 2 CPU-bound neighbours, alternating, REPEATS times. Prints the
# seconds of each pass and checks that every policy gives the same numbers. Results in
# bench/README.md ("Beside other work").
#   bench/busy_neighbour.sh [BINARY] [REPEATS] [NEIGHBOUR COUNTS, e.g. "0 1 2"]
# Policies: auto (clbench's default: spin when the machine is idle at start, sleep at once when
# half a core or more is busy elsewhere; harness/cli/main.cpp), passive (OMP_WAIT_POLICY=PASSIVE),
# spin (libgomp's own default, 300,000 spins before sleeping: what clbench ran before), spin-N
# (GOMP_SPINCOUNT=N, then sleep).
# CLBENCH_METHODS narrows the runs (e.g. "finetune" for the slow spinning passes).
set -euo pipefail
BIN="${1:-build/clbench}"
REPEATS="${2:-1}"
read -r -a COUNTS <<<"${3:-0 1 2}"
METHODS="${CLBENCH_METHODS:-finetune ewc si lwf er joint}"
read -r -a POLICIES <<<"${CLBENCH_POLICIES:-auto spin passive}"
out="$(mktemp -d)"
neighbours=()
stop_neighbours() { for p in "${neighbours[@]}"; do kill "$p" 2>/dev/null || true; done; neighbours=(); }
trap 'stop_neighbours; rm -rf "$out"' EXIT
policy_env() {
  case "$1" in
    auto) echo "CLBENCH_POLICY=auto" ;;
    passive) echo "OMP_WAIT_POLICY=PASSIVE" ;;
    spin) echo "GOMP_SPINCOUNT=300000" ;;
    spin-*) echo "GOMP_SPINCOUNT=${1#spin-}" ;;
  esac
}
for n in "${COUNTS[@]}"; do
  for _ in $(seq "$n"); do (while :; do :; done) & neighbours+=($!); done
  for r in $(seq "$REPEATS"); do
    for policy in "${POLICIES[@]}"; do
      dir="$out/$n-$policy-$r"
      start=$(date +%s.%N)
      for m in $METHODS; do
        env "$(policy_env "$policy")" "$BIN" run -b split-fmnist -m "$m" --seed 0 --threads 2 \
          --out "$dir" >/dev/null 2>&1
      done
      end=$(date +%s.%N)
      awk -v n="$n" -v p="$policy" -v r="$r" -v a="$start" -v b="$end" \
        'BEGIN { printf "%d neighbours, %-10s pass %d: %6.1f s\n", n, p, r, b - a }'
      "$BIN" leaderboard "$dir" | grep -E '^\| [a-z]' | sed 's/|/ /g' | awk '{print $1, $5, $11}' \
        | sort | tr '\n' ' ' >"$dir.numbers"
      cmp -s "$dir.numbers" "$(ls "$out"/*.numbers | head -1)" || echo "  numbers differ: $(cat "$dir.numbers")"
    done
  done
  stop_neighbours
done
echo "numbers (every pass): $(cat "$(ls "$out"/*.numbers | head -1)")"
