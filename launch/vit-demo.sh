#!/usr/bin/env bash
# The parameter-efficient methods on split-fmnist with a ViT pretrained by clbench itself on
# generated fractals (no natural images, none of the evaluation classes): pretrain vit-tiny28,
# run launch/suites/vit-fmnist.json, print the leaderboard. Results go to runs/vit/.
#   launch/vit-demo.sh [extra `clbench suite` flags, e.g. --set threads=2]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/launch/setup.sh" --target clbench
cd "$ROOT"
WEIGHTS=runs/pretrained/vit-tiny28-fractal.safetensors
if [[ ! -f "$WEIGHTS" ]]; then
  mkdir -p "$(dirname "$WEIGHTS")"
  ./build/clbench pretrain --backbone vit-tiny28 --seed 0 --out "$WEIGHTS"
fi
./build/clbench suite launch/suites/vit-fmnist.json "$@"
./build/clbench leaderboard runs/vit --json runs/vit/leaderboard.json \
  --markdown runs/vit/leaderboard.md
