#!/usr/bin/env bash
# The architectural methods (CLR, CLR-Full, progressive networks) against fine-tuning, EWC and ER
# on split-fmnist, task-IL, with a CPU-sized ResNet pretrained by clbench itself on generated
# fractals: pretrain resnet-tiny, run launch/suites/resnet-fmnist.json, print the leaderboard.
# Results go to runs/resnet/.
#   launch/resnet-demo.sh [extra `clbench suite` flags, e.g. --set threads=2]
exec "$(dirname "${BASH_SOURCE[0]}")/pretrained-suite.sh" resnet-tiny \
  launch/suites/resnet-fmnist.json runs/resnet "$@"
