#!/usr/bin/env bash
# Installs and builds what is missing (see setup.sh), then runs every test with ctest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CLBENCH_BUILD:-$ROOT/build}"
"$ROOT/launch/setup.sh"
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" "$@"
