# shellcheck shell=bash
# Sourced by the report tests with their arguments ([path/to/clbench]): sets ROOT, BIN (checked)
# and TMP (a fresh folder, removed on exit) and defines fail and make_fixture_runs.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${1:-$ROOT/build/clbench}"
fail() { echo "FAIL: $*"; exit 1; }
[[ -x "$BIN" ]] || fail "clbench binary $BIN not found"
TMP="$(mktemp -d /tmp/clbench-report-test.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

# make_fixture_runs BIN DIR writes tiny real results below DIR, the
# synthetic benchmark for one epoch: finetune and er (labelled `er,buffer=50`, with a comma, below
# the folder `replay, "50"`: a comma and quotes in its files' paths) with seeds 0 and 1, and
# DIR/incomplete/half.h5, the first 4 KiB of one of them (never counted). A run takes a second.
make_fixture_runs() {
  local bin="$1" dir="$2" seed
  mkdir -p "$dir"
  for seed in 0 1; do
    OMP_NUM_THREADS=1 "$bin" run --benchmark synthetic --method finetune --seed "$seed" \
      --set epochs=1 --threads 1 --out "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log"; return 1; }
    OMP_NUM_THREADS=1 "$bin" run --benchmark synthetic --method er --seed "$seed" \
      --set epochs=1 --set er.buffer=50 --threads 1 --name 'er,buffer=50' \
      --out "$dir/replay, \"50\"" >>"$dir.log" 2>&1 || { cat "$dir.log"; return 1; }
  done
  mkdir -p "$dir/incomplete"
  local first
  first="$(find "$dir" -name '*.h5' -print -quit)"
  head -c 4096 "$first" >"$dir/incomplete/half.h5"
}
