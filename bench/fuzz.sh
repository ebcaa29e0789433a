#!/usr/bin/env bash
# Fuzzes clbench's file parsers with libFuzzer under AddressSanitizer + UBSan (tests/fuzz/).
#
#   bench/fuzz.sh [TARGET|all] [RUNS]      (default: all 1000000)
#   CLBENCH_FUZZ_JOBS=N: build with N jobs (default 1, to leave the machine usable)
#
# Installs what it needs if missing (Debian: clang, libFuzzer runtime, yaml-cpp, nlohmann-json,
# zlib, cmake, ninja, python3), builds tests/fuzz into build-fuzz/ with one job, writes the seed
# corpora (tests/fuzz/make_seeds.py), then runs the targets one at a time, each for RUNS
# executions on one core (nice). Stops at the first finding (crash, sanitizer report, leak,
# timeout, out-of-memory, or an exception other than clbench::Error), exiting non-zero; its input
# is under build-fuzz/artifacts/<target>/ and the log under build-fuzz/logs/<target>.log.
# Prints a Markdown table of executions per target (libFuzzer's final stats).
set -euo pipefail
{  # parsed whole before it runs, so editing this file during a run cannot derail it

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CLBENCH_FUZZ_BUILD:-$ROOT/build-fuzz}"
WHICH="${1:-all}"
RUNS="${2:-1000000}"

# One line per target: name, -max_len, dictionary (- for none). 8192 where a seed holds a path
# longer than PATH_MAX.
TARGETS=(
  "fuzz_idx                 4096   -"
  "fuzz_cifar100            10000  -"
  "fuzz_cub200              8192   -"
  "fuzz_split_yaml          4096   yaml.dict"
  "fuzz_imagenet_r          4096   yaml.dict"
  "fuzz_domainnet_txt       8192   -"
  "fuzz_domainnet_yaml      4096   yaml.dict"
  "fuzz_safetensors_header  4096   json.dict"
  "fuzz_npy                 4096   npy.dict"
  "fuzz_image_cache_index   4096   -"
)

log() { echo "fuzz.sh: $*" >&2; }

if ! [[ "$RUNS" =~ ^[0-9]+$ ]]; then
  log "RUNS must be a number, got '$RUNS'"; exit 2
fi
selected=()
for line in "${TARGETS[@]}"; do
  read -r name _ <<<"$line"
  if [[ "$WHICH" == all || "$WHICH" == "$name" || "fuzz_$WHICH" == "$name" ]]; then
    selected+=("$line")
  fi
done
if [[ ${#selected[@]} -eq 0 ]]; then
  log "unknown target '$WHICH'; one of: all$(printf ' %s' "${TARGETS[@]%% *}")"; exit 2
fi

# --- tools and libraries ---------------------------------------------------------------------
fuzzer_links() {
  command -v clang++ >/dev/null || return 1
  local dir; dir="$(mktemp -d)"
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
    >"$dir/t.cpp"
  clang++ -fsanitize=fuzzer,address,undefined "$dir/t.cpp" -o "$dir/t" >/dev/null 2>&1
  local rc=$?
  rm -rf "$dir"
  return $rc
}
missing=()
for pkg in cmake ninja-build python3 libyaml-cpp-dev nlohmann-json3-dev zlib1g-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
fuzzer_links || missing+=(clang "libclang-rt-$(clang++ --version 2>/dev/null |
  sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1 | grep . || echo 14)-dev")
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
  fuzzer_links || { log "clang++ -fsanitize=fuzzer still does not link"; exit 1; }
fi

# --- build, seeds ------------------------------------------------------------------------------
if [[ ! -f "$BUILD/build.ninja" ]]; then
  nice -n 10 cmake -S "$ROOT/tests/fuzz" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_COMPILER=clang >&2
fi
nice -n 10 cmake --build "$BUILD" -j"${CLBENCH_FUZZ_JOBS:-1}" >&2
python3 "$ROOT/tests/fuzz/make_seeds.py" "$BUILD/seeds"
mkdir -p "$BUILD/logs"

TMP="$(mktemp -d /dev/shm/clbench-fuzz.XXXXXX 2>/dev/null || mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# --- runs ----------------------------------------------------------------------------------------
rows=()
table() {
  echo "| target | executions | time (s) | findings |"
  echo "|---|---:|---:|---:|"
  local r; for r in "${rows[@]}"; do echo "$r"; done
}
status=0
for line in "${selected[@]}"; do
  read -r name max_len dict <<<"$line"
  corpus="$BUILD/corpus/$name" artifacts="$BUILD/artifacts/$name/"
  mkdir -p "$corpus" "$artifacts"
  # -use_value_profile: guides the mutations by the operands of comparisons (it is what found
  # the IDX dimension overflow: 2.5 M runs with it, none in 1 M without).
  args=(-runs="$RUNS" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" -use_value_profile=1
        -print_final_stats=1 -artifact_prefix="$artifacts")
  [[ "$dict" != - ]] && args+=(-dict="$ROOT/tests/fuzz/$dict")
  log "$name: $RUNS runs (log: $BUILD/logs/$name.log)"
  start=$(date +%s.%N)
  rc=0
  CLBENCH_FUZZ_TMP="$TMP" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    nice -n 10 "$BUILD/$name" "${args[@]}" "$corpus" "$BUILD/seeds/$name" \
    >"$BUILD/logs/$name.log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$BUILD/logs/$name.log" | tail -1)
  findings=0
  if [[ $rc -ne 0 ]]; then
    findings=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
      -o -name 'oom-*' \) -newermt "@${start%.*}" | wc -l)
    [[ $findings -eq 0 ]] && findings=1  # e.g. the target died before writing an artifact
  fi
  rows+=("| $name | ${execs:-?} | $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.0f", b-a}') | $findings |")
  if [[ $rc -ne 0 ]]; then
    log "$name: FINDING (exit $rc); input(s) in $artifacts, log $BUILD/logs/$name.log:"
    grep -E 'ERROR|FUZZ_CHECK|SUMMARY|terminate called|what\(\)|Test unit written' "$BUILD/logs/$name.log" | head -20 >&2 || true
    status=1
    break
  fi
done
table
exit $status
}
