#!/usr/bin/env bash
# Pretrains BACKBONE on generated fractals once (clbench pretrain: no natural images, none of the
# evaluation classes; kept in runs/pretrained/), runs SUITE (whose entries load those weights) and
# writes the leaderboard of RESULTS as JSON and Markdown.
#   launch/pretrained-suite.sh BACKBONE SUITE RESULTS [extra `clbench suite` flags]
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 BACKBONE SUITE RESULTS [clbench suite flags]" >&2
  exit 2
fi
BACKBONE=$1 SUITE=$2 RESULTS=$3
shift 3
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/launch/setup.sh" --target clbench
cd "$ROOT"
WEIGHTS=runs/pretrained/$BACKBONE-fractal.safetensors
if [[ ! -f "$WEIGHTS" ]]; then
  mkdir -p "$(dirname "$WEIGHTS")"
  ./build/clbench pretrain --backbone "$BACKBONE" --seed 0 --threads 2 --out "$WEIGHTS"
fi
./build/clbench suite "$SUITE" "$@"
./build/clbench leaderboard "$RESULTS" --json "$RESULTS/leaderboard.json" \
  --markdown "$RESULTS/leaderboard.md"
