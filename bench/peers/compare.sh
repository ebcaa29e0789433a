#!/usr/bin/env bash
# Side-by-side cost and accuracy of clbench and Avalanche 0.6.0 on split-fmnist, one CPU thread
# each (bench/peers/README.md). For every method and seed, N alternating pairs of whole processes
# (clbench first on odd pairs, Avalanche first on even ones), each timed by /usr/bin/time (wall,
# user, sys). Prints a Markdown table and the path of a CSV with every measurement.
#   bench/peers/compare.sh [--pairs N] [--seeds "0 1 2"] [METHOD ...]
# METHOD: finetune joint ewc si lwf er mas gem agem icarl der der++ dgr (class-IL), pnn (task-IL),
# gem@task-il and finetune@task-il for task-IL runs; dgr-vdv: clbench's dgr against Avalanche's
# GenerativeReplay given clbench's generator (the same arithmetic on both sides; plain dgr pairs
# it with Avalanche's default, smaller one). Default: all of them, with gem@task-il and dgr-vdv.
# CLBENCH names the clbench binary (default: build/clbench); CLBENCH_FLAGS adds flags to its runs
# (e.g. "--set cpu_kernels=native": the kernels Avalanche's PyTorch picks on this processor).
# Needs bench/peers/setup.sh first. Not part of the tests or CI.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CLBENCH="${CLBENCH:-$ROOT/build/clbench}"
PYTHON="$HERE/.venv/bin/python"
PAIRS=3
SEEDS="0 1 2"
METHODS=()
DEFAULT_METHODS=(finetune joint ewc si lwf er mas gem agem icarl der der++ dgr dgr-vdv pnn gem@task-il)

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --seeds) SEEDS="$2"; shift 2 ;;
    -h | --help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage 2 ;;
    *) METHODS+=("$1"); shift ;;
  esac
done
[ ${#METHODS[@]} -gt 0 ] || METHODS=("${DEFAULT_METHODS[@]}")
for spec in "${METHODS[@]}"; do  # fail before hours of runs, not in the middle
  case "$spec" in
    finetune | joint | ewc | si | lwf | er | mas | gem | agem | icarl | der | der++ | dgr | dgr-vdv | pnn) ;;
    finetune@task-il | gem@task-il | pnn@task-il) ;;
    *) echo "unknown method '$spec' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || { echo "--pairs wants a positive integer, not '$PAIRS'" >&2; exit 2; }
[ -x "$CLBENCH" ] || { echo "no clbench binary at $CLBENCH (build it, or set CLBENCH)" >&2; exit 1; }
[ -x "$PYTHON" ] || { echo "no $PYTHON: run bench/peers/setup.sh first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing (Debian package 'time')" >&2; exit 1; }

export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
work="$(mktemp -d "${TMPDIR:-/tmp}/clbench-peers.XXXXXX")"
csv="$work/measurements.csv"
echo "method,scenario,seed,pair,side,position,wall_s,user_s,sys_s,cpu_s,acc_class_il,acc_task_il,train_s" >"$csv"

# One whole process, timed; its stdout, stderr and times are kept in $work/logs.
timed() {  # timed LOG COMMAND...
  local log="$1"; shift
  if ! /usr/bin/time -o "$log.time" -f '%e %U %S' "$@" >"$log.out" 2>"$log.err"; then
    echo "failed: $* (see $log.out, $log.err)" >&2
    exit 1
  fi
}

run_clbench() {  # run_clbench METHOD SCENARIO SEED LOG -> "acc_class_il acc_task_il train_s"
  local method="${1%-vdv}" scenario="$2" seed="$3" log="$4"  # dgr-vdv: clbench's own dgr
  local flags
  read -r -a flags <<<"${CLBENCH_FLAGS:-}"
  timed "$log" "$CLBENCH" run --benchmark split-fmnist --method "$method" --scenario "$scenario" \
    --threads 1 --seed "$seed" --out "$work/clbench" --force "${flags[@]}"
  # "<label>  final acc (class-IL) X  AAA .. forgetting ..  | task-IL Y  -> file"
  local line class task train
  line="$(grep 'final acc (class-IL)' "$log.out")"
  class="$(sed -E 's/.*final acc \(class-IL\) ([0-9.]+).*/\1/' <<<"$line")"
  task="$(sed -E 's/.*\| task-IL ([0-9.]+).*/\1/' <<<"$line")"
  # Its per-task seconds ("task k/T done in 1.3s"): training and end-of-task steps.
  train="$(sed -nE 's/.*task [0-9]+\/[0-9]+ done in ([0-9.]+)s.*/\1/p' "$log.err" |
    awk '{ s += $1 } END { printf "%.1f", s }')"
  echo "$class $task $train"
}

run_avalanche() {  # run_avalanche METHOD SCENARIO SEED LOG -> "acc_class_il acc_task_il train_s"
  local method="$1" scenario="$2" seed="$3" log="$4"
  timed "$log" "$PYTHON" "$HERE/avalanche_run.py" --method "$method" --scenario "$scenario" --seed "$seed"
  tail -n 1 "$log.out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("NA" if r["acc_class_il"] is None else r["acc_class_il"], r["acc_task_il"], r["train_s"])'
}

mkdir -p "$work/logs"
for spec in "${METHODS[@]}"; do
  method="${spec%@*}"
  scenario="class-il"
  [[ "$spec" == *@* ]] && scenario="${spec#*@}"
  [ "$method" = pnn ] && scenario="task-il"
  for seed in $SEEDS; do
    for ((pair = 1; pair <= PAIRS; pair++)); do
      if ((pair % 2 == 1)); then order=(clbench avalanche); else order=(avalanche clbench); fi
      for position in 1 2; do
        side="${order[position - 1]}"
        log="$work/logs/$method-$scenario-seed$seed-pair$pair-$side"
        echo "[peers] $method ($scenario) seed $seed pair $pair/$PAIRS: $side" >&2
        result="$("run_$side" "$method" "$scenario" "$seed" "$log")"
        read -r class task train <<<"$result"
        [ "$class" = NA ] && class=""
        read -r wall user sys <"$log.time"
        cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')"
        echo "$method,$scenario,$seed,$pair,$side,$position,$wall,$user,$sys,$cpu,$class,$task,$train" >>"$csv"
      done
    done
  done
done

python3 - "$csv" <<'EOF'
import csv, statistics, sys
from collections import defaultdict

rows = list(csv.DictReader(open(sys.argv[1])))
groups = defaultdict(lambda: defaultdict(list))  # (method, scenario) -> side -> rows
for r in rows:
    groups[(r["method"], r["scenario"])][r["side"]].append(r)

def accuracy(side_rows, scenario):
    """Mean ± sample sd over seeds of the scenario's final accuracy (one value per seed)."""
    column = "acc_task_il" if scenario == "task-il" else "acc_class_il"
    per_seed = defaultdict(list)
    for r in side_rows:
        per_seed[r["seed"]].append(float(r[column]))
    values = [statistics.mean(v) for v in per_seed.values()]
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"

def median(side_rows, column):
    return statistics.median(float(r[column]) for r in side_rows)

print("| method | clbench CPU s (median) | Avalanche CPU s (median) | ratio Avalanche/clbench "
      "| clbench wall | Avalanche wall | clbench acc (mean ± sd) | Avalanche acc (mean ± sd) |")
print("|---|---|---|---|---|---|---|---|")
for (method, scenario), sides in groups.items():
    cl, av = sides["clbench"], sides["avalanche"]
    label = f"{method} ({'task-IL' if scenario == 'task-il' else 'class-IL'})"
    cl_cpu, av_cpu = median(cl, "cpu_s"), median(av, "cpu_s")
    print(f"| {label} | {cl_cpu:.2f} | {av_cpu:.2f} | {av_cpu / cl_cpu:.2f} "
          f"| {median(cl, 'wall_s'):.2f} | {median(av, 'wall_s'):.2f} "
          f"| {accuracy(cl, scenario)} | {accuracy(av, scenario)} |")
EOF
echo
echo "raw measurements: $csv (logs in $work/logs)"
