#!/usr/bin/env bash
# Quick start: install, build, run the default suite (finetune, ewc, si, lwf, er, joint on
# split-fmnist, class-IL, seeds 0-2, 2 threads: launch/suites/default.json) and print the
# leaderboard. Results go to runs/; a second call skips the results that are complete.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/launch/setup.sh" --target clbench
cd "$ROOT"
./build/clbench suite launch/suites/default.json
./build/clbench leaderboard runs --json runs/leaderboard.json --markdown runs/leaderboard.md \
  --csv runs/leaderboard.csv --html runs/leaderboard.html
