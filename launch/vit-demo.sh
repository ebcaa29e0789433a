#!/usr/bin/env bash
# The parameter-efficient methods on split-fmnist with a ViT pretrained by clbench itself on
# generated fractals: pretrain vit-tiny28, run launch/suites/vit-fmnist.json, print the
# leaderboard. Results go to runs/vit/.
#   launch/vit-demo.sh [extra `clbench suite` flags, e.g. --set threads=2]
exec "$(dirname "${BASH_SOURCE[0]}")/pretrained-suite.sh" vit-tiny28 launch/suites/vit-fmnist.json \
  runs/vit "$@"
