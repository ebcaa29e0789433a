#!/usr/bin/env bash
# Quick start: install, build, run the default suite (finetune, ewc, si, lwf, er, joint on
# split-fmnist, class-IL, seed 0) and print the leaderboard. Results go to runs/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/launch/setup.sh" --target clbench
cd "$ROOT"
for method in finetune ewc si lwf er joint; do
  ./build/clbench run --benchmark split-fmnist --method "$method" --scenario class-il --seed 0 --out runs
done
./build/clbench leaderboard runs --json runs/leaderboard.json --markdown runs/leaderboard.md
