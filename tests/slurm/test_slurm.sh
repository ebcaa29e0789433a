#!/usr/bin/env bash
# End-to-end test of launch/slurm/ on a real one-node Slurm cluster (launch/slurm/local-cluster.sh).
#
#   tests/slurm/test_slurm.sh [path/to/clbench]      (ctest: slurm_single_node)
#
# 1. sbatch --wait -n 2 train.sbatch --benchmark synthetic --method er     (default launcher)
# 2. sbatch --wait --array=0-1 suite-array.sbatch SUITE (synthetic, finetune, seeds 0 and 1)
# 3. preemption: sbatch -n 2 train.sbatch (CLBENCH_LAUNCHER=mpirun), SIGTERM to the batch script
#    as --signal=B:TERM would send -> clbench checkpoints, exits 75 -> the job requeues itself ->
#    it resumes and completes (Slurm delays a requeued job ~2 min; the test moves it up)
# 4. launch/slurm/submit-suite.sh on a 4-entry suite: the array, then the leaderboard job that
#    depends on it (afterany) writes leaderboard.{json,md,csv,html}
# Then checks the result files with clbench leaderboard (runs, nothing skipped, no checkpoint
# left, world_size 2 via h5dump when hdf5-tools is installed).
# Needs root (it starts munged, slurmctld, slurmd): otherwise prints SKIP and exits 77, as it does
# when Slurm is missing and cannot be installed. Leaves the cluster running (harmless; stop it
# with launch/slurm/local-cluster.sh stop); removes its temporary folder when it passes.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${1:-$ROOT/build/clbench}"
TEST_TIMEOUT="${CLBENCH_SLURM_TEST_TIMEOUT:-150}"  # seconds per job
START=$SECONDS

say() { echo "[test_slurm +$((SECONDS - START))s] $*"; }

if [[ $(id -u) != 0 ]]; then
  echo "SKIP: test_slurm.sh needs root (it starts munged, slurmctld and slurmd)"
  exit 77
fi
[[ -x "$BIN" ]] || { echo "FAIL: clbench binary $BIN not found"; exit 1; }
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# Inside a Slurm job (e.g. CI under srun), its variables would leak into ours.
for v in $(compgen -v SLURM_); do [[ "$v" == SLURM_CONF ]] || unset "$v"; done
export PATH="$PATH:/usr/sbin:/sbin"

TMP="$(mktemp -d /tmp/clbench-slurm-test.XXXXXX)"
JOBS=()
FAILED=0

diagnostics() {
  echo "================ diagnostics ================"
  local f j
  for f in "$TMP"/*.out; do
    [[ -f "$f" ]] || continue
    echo "---- $f"
    tail -n 60 "$f"
  done
  for j in "${JOBS[@]}"; do
    echo "---- scontrol show job $j"
    scontrol show job "$j" 2>&1 | head -n 30
  done
  echo "---- sinfo"; sinfo -N -l 2>&1
  echo "---- squeue"; squeue 2>&1
  local d="${CLBENCH_SLURM_DIR:-/tmp/slurm}"
  echo "---- slurmctld log tail ($d/log/slurmctld.log)"; tail -n 30 "$d/log/slurmctld.log" 2>&1
  echo "---- slurmd log tail ($d/log/slurmd.log)"; tail -n 30 "$d/log/slurmd.log" 2>&1
  echo "---- temporary files kept in $TMP"
  find "$TMP" | sort
}

cleanup() {
  local j
  # Cancel only the jobs this test submitted, if any is still queued or running.
  for j in "${JOBS[@]}"; do scancel "$j" 2>/dev/null || true; done
  if [[ $FAILED == 0 ]]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  FAILED=1
  diagnostics
  exit 1
}

# --- the cluster -------------------------------------------------------------------------------
say "starting the local Slurm cluster"
if ! "$ROOT/launch/slurm/local-cluster.sh" >"$TMP/local-cluster.log" 2>&1; then
  cat "$TMP/local-cluster.log"
  if ! command -v slurmctld >/dev/null || ! command -v sbatch >/dev/null; then
    echo "SKIP: Slurm is not installed and could not be installed (apt-get failed)"
    exit 77
  fi
  fail "launch/slurm/local-cluster.sh failed"
fi
cat "$TMP/local-cluster.log"
# A second call must be a no-op that succeeds.
"$ROOT/launch/slurm/local-cluster.sh" >>"$TMP/local-cluster.log" 2>&1 || fail "local-cluster.sh is not idempotent"

export CLBENCH_BIN="$BIN"  # sbatch exports the environment to the jobs
cd "$ROOT" || fail "cannot cd $ROOT"

# sbatch --wait in the background; its job id goes to $TMP/NAME.id, its exit status to NAME.rc.
submit_wait() {
  local name="$1"
  shift
  (
    timeout "$TEST_TIMEOUT" sbatch --wait --parsable --job-name="clbench-test-$name" "$@" >"$TMP/$name.id" 2>"$TMP/$name.sbatch.err"
    echo $? >"$TMP/$name.rc"
  ) &
  local i
  for ((i = 0; i < 100; i++)); do [[ -s "$TMP/$name.id" || -s "$TMP/$name.rc" ]] && break; sleep 0.1; done
  [[ -s "$TMP/$name.id" ]] && JOBS+=("$(cut -d';' -f1 "$TMP/$name.id" | head -n 1)")
}

# --- 1 and 2: a 2-task run and a 2-entry job array ---------------------------------------------
cat >"$TMP/suite.json" <<EOF
{"defaults": {"threads": 1}, "benchmarks": ["synthetic"], "methods": ["finetune"], "seeds": [0, 1]}
EOF
n="$("$BIN" suite "$TMP/suite.json" --count)" || fail "clbench suite --count failed"
[[ "$n" == 2 ]] || fail "suite --count printed '$n', expected 2"

say "submitting: sbatch --wait -n 2 launch/slurm/train.sbatch --benchmark synthetic --method er"
submit_wait train -n 2 -o "$TMP/train.out" launch/slurm/train.sbatch \
  --benchmark synthetic --method er --threads 1 --out "$TMP/r"
say "submitting: sbatch --wait --array=0-$((n - 1)) launch/slurm/suite-array.sbatch SUITE"
submit_wait array --array=0-$((n - 1)) -o "$TMP/array-%A_%a.out" launch/slurm/suite-array.sbatch \
  "$TMP/suite.json" --out "$TMP/s"
wait
for name in train array; do
  rc="$(cat "$TMP/$name.rc" 2>/dev/null || echo missing)"
  cat "$TMP/$name.sbatch.err" 2>/dev/null
  [[ "$rc" == 0 ]] || fail "sbatch --wait ($name) exited with $rc (124: timed out after ${TEST_TIMEOUT}s)"
done
say "both jobs finished"

# --- 3: SIGTERM -> checkpoint -> exit 75 -> requeue -> resume ----------------------------------
say "preemption: CLBENCH_LAUNCHER=mpirun sbatch -n 2 launch/slurm/train.sbatch ..., then SIGTERM"
job="$(CLBENCH_LAUNCHER=mpirun sbatch --parsable --job-name=clbench-test-requeue -n 2 -o "$TMP/requeue.out" \
  launch/slurm/train.sbatch --benchmark synthetic --method er --threads 1 --epochs 20 --out "$TMP/q")" ||
  fail "sbatch (requeue test) failed"
JOBS+=("$job")
job_field() { scontrol show job "$job" 2>/dev/null | grep -o "$1=[^ ]*" | head -n 1 | cut -d= -f2; }
deadline=$((SECONDS + TEST_TIMEOUT))
until grep -q "er on synthetic" "$TMP/requeue.out" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "the requeue test job did not start training"
  sleep 0.5
done
sleep 1
scancel --batch --signal=TERM "$job" || fail "scancel --batch --signal=TERM $job failed"
moved=0
while :; do
  state="$(job_field JobState)"
  restarts="$(job_field Restarts)"
  if [[ "$state" == PENDING && "${restarts:-0}" -ge 1 && $moved == 0 ]]; then
    say "job $job requeued (Restarts=$restarts); moving its begin time up"
    # Not at once: slurmd refuses a relaunch whose credential dates from the second it revoked
    # the killed instance's ("Job credential revoked"); Slurm's own delay is ~2 minutes.
    sleep 3
    scontrol update JobId="$job" StartTime=now || fail "scontrol update StartTime=now failed"
    moved=1
  fi
  case "$state" in
    COMPLETED) break ;;
    FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | "") fail "requeue test job ended as '${state}'" ;;
  esac
  ((SECONDS < deadline)) || fail "requeue test job not complete after ${TEST_TIMEOUT}s (state $state)"
  sleep 1
done
((${restarts:-0} >= 1)) || fail "the job completed without being requeued (Restarts=${restarts:-?}): SIGTERM came too late?"
grep -q "exited with 75" "$TMP/requeue.out" || fail "clbench did not exit 75 after SIGTERM"
grep -q "requeued job $job" "$TMP/requeue.out" || fail "the job script did not requeue itself"
grep -q "resuming from" "$TMP/requeue.out" || fail "the requeued run did not resume from its checkpoint"
say "requeue test job completed after $restarts restart(s) and resumed from its checkpoint"

# --- 4: submit-suite.sh: the array and the leaderboard job after it -----------------------------
cat >"$TMP/suite4.json" <<EOF
{"defaults": {"threads": 1}, "benchmarks": ["synthetic"], "methods": ["finetune", "er"], "seeds": [0, 1]}
EOF
say "submitting: launch/slurm/submit-suite.sh SUITE (4 entries) -- --out $TMP/p"
ids="$(launch/slurm/submit-suite.sh "$TMP/suite4.json" -o "$TMP/sub-%A_%a.out" -- --out "$TMP/p")" ||
  fail "submit-suite.sh failed"
read -r array_job board_job <<<"$ids"
JOBS+=("$array_job" "$board_job")
scontrol show job "$board_job" 2>/dev/null | grep -q "Dependency=afterany:$array_job" ||
  fail "the leaderboard job $board_job does not depend on the array $array_job (afterany)"
deadline=$((SECONDS + TEST_TIMEOUT))
until [[ -s "$TMP/p/leaderboard.html" ]]; do
  state="$(scontrol show job "$board_job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n 1 | cut -d= -f2)"
  case "$state" in
    FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY)
      cat "$TMP"/p/slurm-leaderboard-*.out
      fail "the leaderboard job ended as $state"
      ;;
  esac
  ((SECONDS < deadline)) || fail "no leaderboard after ${TEST_TIMEOUT}s (leaderboard job $board_job: ${state:-gone})"
  sleep 1
done
sleep 1  # the four files are written one after the other
for ext in json md csv html; do
  [[ -s "$TMP/p/leaderboard.$ext" ]] || fail "submit-suite.sh: no $TMP/p/leaderboard.$ext"
done
say "submit-suite.sh: array $array_job, then leaderboard job $board_job wrote JSON, Markdown, CSV, HTML"

# --- results ------------------------------------------------------------------------------------
check_board() {  # dir, expected runs per entry, expected entries
  local dir="$1" runs="$2" entries="$3"
  "$BIN" leaderboard "$dir" --json "$TMP/board.json" >"$TMP/board.md" 2>&1 || { cat "$TMP/board.md"; fail "clbench leaderboard $dir failed"; }
  python3 - "$TMP/board.json" "$runs" "$entries" <<'EOF' || { cat "$TMP/board.json"; fail "leaderboard of $dir is not as expected"; }
import json, sys
board = json.load(open(sys.argv[1]))
runs, entries = int(sys.argv[2]), int(sys.argv[3])
assert not board["skipped"], f"skipped files: {board['skipped']}"
assert len(board["entries"]) == entries, f"{len(board['entries'])} entries, expected {entries}"
for e in board["entries"]:
    assert e["runs"] == runs, f"{e['label']}: {e['runs']} runs, expected {runs}"
EOF
  if find "$dir" -name '*.ckpt' | grep -q .; then fail "checkpoints left in $dir: $(find "$dir" -name '*.ckpt')"; fi
}
for f in "$TMP/r/synthetic/er/seed-0.h5" "$TMP/s/synthetic/finetune/seed-0.h5" \
  "$TMP/s/synthetic/finetune/seed-1.h5" "$TMP/q/synthetic/er/seed-0.h5"; do
  [[ -s "$f" ]] || fail "missing result file $f"
done
check_board "$TMP/r" 1 1
check_board "$TMP/s" 2 1
check_board "$TMP/q" 1 1
check_board "$TMP/p" 2 2
if command -v h5dump >/dev/null; then
  for f in "$TMP/r/synthetic/er/seed-0.h5" "$TMP/q/synthetic/er/seed-0.h5"; do
    ws="$(h5dump -a /world_size "$f" 2>/dev/null | grep -o '(0): [0-9]*' | cut -d' ' -f2)"
    [[ "$ws" == 2 ]] || fail "$f: world_size '$ws', expected 2 (the job had 2 tasks)"
  done
  say "world_size 2 in the 2-task results"
else
  say "h5dump not installed (hdf5-tools): world_size not checked"
fi

say "PASS"
