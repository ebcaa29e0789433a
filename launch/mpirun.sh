#!/usr/bin/env bash
# Runs clbench with Open MPI: one rank per GPU (rank r trains on GPU local_rank), or NP CPU ranks.
#
#   launch/mpirun.sh NP clbench-args...      ->  mpirun [options] -np NP build/clbench clbench-args...
#
# Examples:
#   launch/mpirun.sh 4 run --benchmark split-fmnist --method er              # 4 GPUs, one node
#   launch/mpirun.sh 2 run --benchmark synthetic --method ewc --device cpu   # 2 CPU ranks
#   launch/mpirun.sh 4 suite launch/suites/default.json                      # a whole suite, 4 ranks each
#   CLBENCH_MPIRUN_ARGS="--hostfile hosts" launch/mpirun.sh 16 run ...        # 2 nodes x 8 GPUs
#   NCCL_DEBUG=INFO launch/mpirun.sh 8 run --benchmark split-fmnist --method lwf
#
# The mpirun line it builds (printed to stderr before it runs):
#   mpirun -np NP -bind-to none -map-by slot -x PATH -x LD_LIBRARY_PATH -x OMP_NUM_THREADS \
#          [-x NCCL_DEBUG ...] [--allow-run-as-root] [--oversubscribe] $CLBENCH_MPIRUN_ARGS build/clbench ...
# * -map-by slot fills each node's slots in order, so local ranks 0..k-1 land on one node and
#   rank r uses GPU local_rank: give each node as many slots (ranks) as it has GPUs
#   (hostfile "node1 slots=8"; inside Slurm: --ntasks-per-node = GPUs per node).
# * -bind-to none: a rank is not pinned to one core (its data loading and LibTorch's intra-op
#   threads use what OMP_NUM_THREADS / --threads allow).
# * -x exports the environment to ranks on other nodes; NCCL_*, CUDA_VISIBLE_DEVICES and
#   CLBENCH_* are exported too when they are set.
#
# Environment:
#   OMP_NUM_THREADS       threads per rank (default 1: NP ranks on a CPU machine should not
#                         oversubscribe its cores; raise it, or pass --threads N, for few ranks)
#   CLBENCH_BIN           the binary (default: build/clbench next to this script's launch/)
#   CLBENCH_MPIRUN        the mpirun to use (default: mpirun)
#   CLBENCH_MPIRUN_ARGS   extra mpirun arguments (word-split), e.g. "--hostfile hosts"
#   CLBENCH_OVERSUBSCRIBE 1: pass --oversubscribe (more ranks than slots/cores); auto outside Slurm
#                         when NP exceeds this machine's cores; 0: never
#   CLBENCH_ALLOW_ROOT    1/0: pass --allow-run-as-root (default: 1 when running as root)
#   CLBENCH_DRY_RUN       1: print the command and exit
# Inside a Slurm allocation mpirun takes the nodes and slots from Slurm (launch/slurm/train.sbatch
# with CLBENCH_LAUNCHER=mpirun uses this script). Exit status: mpirun's, so clbench's 75
# ("interrupted, checkpoint written, rerun with --resume") comes through.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,37p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  [[ $# -lt 1 ]] && exit 2 || exit 0
fi
NP="$1"
shift
[[ "$NP" =~ ^[1-9][0-9]*$ ]] || { echo "mpirun.sh: NP must be a positive integer, got '$NP'" >&2; exit 2; }

BIN="${CLBENCH_BIN:-$ROOT/build/clbench}"
[[ -x "$BIN" ]] || { echo "mpirun.sh: $BIN not found or not executable (build it: launch/setup.sh)" >&2; exit 2; }
MPIRUN="${CLBENCH_MPIRUN:-mpirun}"
command -v "$MPIRUN" >/dev/null || { echo "mpirun.sh: $MPIRUN not found (apt-get install openmpi-bin)" >&2; exit 2; }

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

cmd=("$MPIRUN" -np "$NP" -bind-to none -map-by slot -x PATH -x OMP_NUM_THREADS)
[[ -n "${LD_LIBRARY_PATH:-}" ]] && cmd+=(-x LD_LIBRARY_PATH)
while IFS='=' read -r name _; do
  case "$name" in NCCL_* | CUDA_VISIBLE_DEVICES | CLBENCH_* | TORCH_*) cmd+=(-x "$name") ;; esac
done < <(env)

if [[ "${CLBENCH_ALLOW_ROOT:-$([[ $(id -u) == 0 ]] && echo 1 || echo 0)}" == 1 ]]; then
  cmd+=(--allow-run-as-root)
fi
oversub="${CLBENCH_OVERSUBSCRIBE:-auto}"
if [[ "$oversub" == auto ]]; then
  # Outside Slurm, Open MPI gives a machine one slot per core; more ranks than that need
  # --oversubscribe (fine for CPU tests; on GPU nodes NP should equal the GPUs anyway).
  oversub=0
  if [[ -z "${SLURM_JOB_ID:-}" && -z "${CLBENCH_MPIRUN_ARGS:-}" ]] && ((NP > $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc))); then oversub=1; fi
fi
[[ "$oversub" == 1 ]] && cmd+=(--oversubscribe)
# shellcheck disable=SC2206  # word splitting of the extra arguments is intended
[[ -n "${CLBENCH_MPIRUN_ARGS:-}" ]] && cmd+=(${CLBENCH_MPIRUN_ARGS})

# One rank per GPU: warn early when this node has fewer GPUs than ranks would land on it.
if [[ -z "${SLURM_JOB_ID:-}" && -z "${CLBENCH_MPIRUN_ARGS:-}" ]] && command -v nvidia-smi >/dev/null; then
  gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
  if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then gpus="$(tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c .)"; fi
  if ((gpus > 0 && NP > gpus)); then
    echo "mpirun.sh: warning: $NP ranks but $gpus GPU(s): rank r uses GPU local_rank, so use NP <= $gpus (or --device cpu)" >&2
  fi
fi

cmd+=("$BIN" "$@")
# Inside an allocation (sbatch/salloc) this shell's SLURM_PROCID/SLURM_LOCALID describe the batch
# step, not the ranks mpirun starts: drop them so no rank takes them for its own.
unset SLURM_PROCID SLURM_LOCALID
echo "mpirun.sh: ${cmd[*]}" >&2
[[ "${CLBENCH_DRY_RUN:-0}" == 1 ]] && exit 0
exec "${cmd[@]}"
