# shellcheck shell=bash
# Shared by launch/slurm/train.sbatch and launch/slurm/suite-array.sbatch (sourced, not run):
# picks the launcher, starts clbench on every task of the allocation, forwards the "time is up"
# SIGTERM to it, and requeues the job when clbench was interrupted (exit 75: checkpoint written).
#
# Environment (all optional):
#   CLBENCH_LAUNCHER      auto (default) | srun | mpirun
#                         auto: srun --mpi=pmix when this Slurm has the PMIx plugin
#                         (srun --mpi=list), else mpirun (Open MPI reads the allocation itself);
#                         outside an allocation (script run by hand): mpirun, one rank
#   CLBENCH_SRUN_MPI      the srun --mpi= plugin (default pmix; pmi2 for MPICH builds)
#   CLBENCH_BIN           the clbench binary (default $CLBENCH_ROOT/build/clbench)
#   CLBENCH_MAX_REQUEUES  stop requeueing after this many restarts (default 50)
#   OMP_NUM_THREADS       threads per rank (default: --cpus-per-task, else 1)

clbench_log() { echo "[clbench-slurm $(date +%H:%M:%S)] $*" >&2; }

# Tasks Slurm put on this node ("4(x2),3" -> 4 on the first node, the batch host).
clbench_tasks_here() {
  local t="${SLURM_TASKS_PER_NODE:-${SLURM_NTASKS:-1}}"
  t="${t%%,*}"
  echo "${t%%(*}"
}

clbench_pick_launcher() {
  local l="${CLBENCH_LAUNCHER:-auto}"
  if [[ "$l" == auto ]]; then
    if [[ -z "${SLURM_JOB_ID:-}" ]] && command -v mpirun >/dev/null; then
      l=mpirun  # not in an allocation (the script run by hand): one rank, no new allocation
    elif command -v srun >/dev/null && srun --mpi=list 2>&1 | grep -qw "${CLBENCH_SRUN_MPI:-pmix}"; then
      l=srun
    elif command -v mpirun >/dev/null; then
      l=mpirun
    else
      l=srun
    fi
  fi
  case "$l" in
    srun | mpirun) echo "$l" ;;
    *) clbench_log "error: CLBENCH_LAUNCHER must be auto, srun or mpirun (got '$l')"; return 2 ;;
  esac
}

CLBENCH_CHILD=""
CLBENCH_TERM=0      # a SIGTERM/SIGINT reached this script (time limit, preemption, scancel -b)
CLBENCH_TRAPPED=0   # ... and interrupted the current wait

clbench_on_term() {
  CLBENCH_TERM=1
  CLBENCH_TRAPPED=1
  [[ -n "$CLBENCH_CHILD" ]] || return 0
  clbench_log "SIGTERM/SIGINT (time limit, preemption or scancel): asking clbench to checkpoint and stop" \
    "(it exits 75; slurmstepd may log this signal as CANCELLED)"
  if [[ "$CLBENCH_LAUNCHER_USED" == srun ]]; then
    # srun itself would kill the step on SIGTERM; signal the step's tasks instead (all nodes).
    scancel --signal=TERM "$SLURM_JOB_ID" 2>/dev/null || kill -TERM "$CLBENCH_CHILD" 2>/dev/null || true
  else
    # mpirun aborts the whole job on SIGTERM; signal its local ranks instead: clbench's stop
    # request is collective (every rank sees it at the next step), so this stops all nodes.
    local ranks
    ranks="$(ps -o pid= --ppid "$CLBENCH_CHILD" 2>/dev/null | tr '\n' ' ')"
    if [[ -n "${ranks// /}" ]]; then
      # shellcheck disable=SC2086
      kill -TERM $ranks 2>/dev/null || true
    else
      kill -TERM "$CLBENCH_CHILD" 2>/dev/null || true
    fi
  fi
}

# clbench_launch CLBENCH-ARGS... : runs clbench on all tasks of the allocation; sets CLBENCH_RC.
clbench_launch() {
  local bin="${CLBENCH_BIN:-$CLBENCH_ROOT/build/clbench}"
  if [[ ! -x "$bin" ]]; then
    clbench_log "error: $bin not found (build it, or set CLBENCH_BIN / CLBENCH_ROOT)"
    CLBENCH_RC=2
    return 0
  fi
  export CLBENCH_BIN="$bin"
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"
  CLBENCH_LAUNCHER_USED="$(clbench_pick_launcher)" || { CLBENCH_RC=2; return 0; }
  local ntasks="${SLURM_NTASKS:-1}" here
  here="$(clbench_tasks_here)"

  # One rank per GPU: rank r uses GPU local_rank, so the tasks on a node must match its GPUs.
  if [[ -n "${SLURM_GPUS_ON_NODE:-}" && "${SLURM_GPUS_ON_NODE}" != "$here" ]]; then
    clbench_log "warning: $here task(s) on this node but $SLURM_GPUS_ON_NODE GPU(s):" \
      "set --ntasks-per-node to the GPUs per node (rank r uses GPU local_rank)"
  fi

  local cmd
  if [[ "$CLBENCH_LAUNCHER_USED" == srun ]]; then
    # --kill-on-bad-exit: a rank that dies ends the whole step instead of leaving the others waiting.
    cmd=(srun --mpi="${CLBENCH_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 --ntasks="$ntasks")
    # srun no longer inherits --cpus-per-task from sbatch (Slurm >= 22.05).
    [[ -n "${SLURM_CPUS_PER_TASK:-}" ]] && cmd+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
    cmd+=("$bin" "$@")
  else
    cmd=("$CLBENCH_ROOT/launch/mpirun.sh" "$ntasks" "$@")
  fi

  clbench_log "job ${SLURM_JOB_ID:-none}${SLURM_ARRAY_TASK_ID:+ (array ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID})}" \
    "restart ${SLURM_RESTART_COUNT:-0} on $(hostname -s): nodes ${SLURM_JOB_NODELIST:-local}," \
    "$ntasks task(s) ($here here), GPUs ${CUDA_VISIBLE_DEVICES:-none}, OMP_NUM_THREADS=$OMP_NUM_THREADS"
  clbench_log "launcher $CLBENCH_LAUNCHER_USED: ${cmd[*]}"

  trap clbench_on_term TERM INT
  "${cmd[@]}" &
  CLBENCH_CHILD=$!
  local rc again
  while :; do
    CLBENCH_TRAPPED=0
    rc=0
    wait "$CLBENCH_CHILD" || rc=$?
    if [[ $CLBENCH_TRAPPED == 1 ]] && ((rc > 128)); then
      # The trapped signal ended `wait` early; clbench is still checkpointing: wait again.
      if kill -0 "$CLBENCH_CHILD" 2>/dev/null; then continue; fi
      again=0
      wait "$CLBENCH_CHILD" || again=$?
      ((again != 127)) && rc=$again  # 127: its status was already collected
    fi
    break
  done
  CLBENCH_CHILD=""
  CLBENCH_RC=$rc
  clbench_log "clbench exited with $rc"
}

# Exits the job script: requeues the job when clbench was interrupted (75), or when this script
# got SIGTERM and clbench did not finish; checkpoints make the next run continue where it stopped.
clbench_finish() {
  local rc="$CLBENCH_RC"
  if [[ $rc == 75 || ($CLBENCH_TERM == 1 && $rc != 0) ]]; then
    if [[ -z "${SLURM_JOB_ID:-}" ]]; then
      clbench_log "interrupted; rerun the same command to resume"
      exit "$rc"
    fi
    local restarts="${SLURM_RESTART_COUNT:-0}" max="${CLBENCH_MAX_REQUEUES:-50}"
    if ((restarts >= max)); then
      clbench_log "interrupted, but already restarted $restarts times (CLBENCH_MAX_REQUEUES=$max): not requeueing"
      exit "$rc"
    fi
    # scancel also sends SIGTERM (clbench checkpoints and exits 75 then too), but a cancelled job
    # must stay cancelled: requeue only a job Slurm still counts as running (a time-limit or
    # preemption warning signal comes while it does; after scancel it is COMPLETING).
    local state
    state="$(scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n 1 | cut -d= -f2)"
    if [[ -n "$state" && "$state" != RUNNING ]]; then
      clbench_log "interrupted (exit $rc) while the job is $state (cancelled?): not requeueing; resubmit to resume"
      exit "$rc"
    fi
    trap '' TERM INT  # the requeue ends this instance of the job
    if scontrol requeue "$SLURM_JOB_ID"; then
      clbench_log "interrupted (exit $rc): requeued job $SLURM_JOB_ID; it resumes from its checkpoint"
      exit 0
    fi
    clbench_log "error: scontrol requeue $SLURM_JOB_ID failed (submit with --requeue?); resubmit to resume"
    exit "$rc"
  fi
  exit "$rc"
}
