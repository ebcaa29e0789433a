#!/usr/bin/env bash
# Installs and builds what is missing (see setup.sh), then runs every test with ctest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CLBENCH_BUILD:-$ROOT/build}"
"$ROOT/launch/setup.sh"
# One test per core. Coreutils' nproc answers OMP_NUM_THREADS when it is set (as below), which ran
# CI's tests one at a time, so it is asked with that unset.
jobs="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"
# One thread per test process: ctest runs tests side by side, and several OpenMP pools spinning on
# the same cores slow each other down by an order of magnitude.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
ctest --test-dir "$BUILD" --output-on-failure -j "$jobs" "$@"
