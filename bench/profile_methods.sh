#!/usr/bin/env bash
# Where each method's whole run goes: one process per method on split-fmnist (MLP, seed 0, one
# thread; pnn in task-IL), timed by /usr/bin/time, with the trainer's per-task phase line
# ("seconds: begin-task ... training ... end-task ... evaluation") summed over the tasks. "rest" is
# the process's CPU time outside the tasks (start, reading and hashing the data, writing the
# result). "step vs finetune" is the training phase over finetune's: what the method's own loss
# and hooks cost per step. RUN_FLAGS adds flags to every run (e.g. "--set cpu_kernels=native").
# Results in bench/README.md ("Where a run's time goes").
#   [RUN_FLAGS=...] bench/profile_methods.sh [CLBENCH_BINARY] [METHOD ...]
set -euo pipefail
bin=${1:-build/clbench}
shift || true
methods=("$@")
[[ ${#methods[@]} -gt 0 ]] ||
  methods=(finetune joint ewc si mas lwf er agem gem icarl der der++ dgr rtf pnn)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
export OMP_NUM_THREADS=1
printf '| method | CPU s | training | begin-task | end-task | evaluation | rest | step vs finetune |\n'
printf '|---|---|---|---|---|---|---|---|\n'
base_train=""
for m in "${methods[@]}"; do
  scenario=class-il
  [[ $m == pnn ]] && scenario=task-il
  read -r -a extra <<<"${RUN_FLAGS:-}"
  /usr/bin/time -o "$out/time" -f '%U %S' "$bin" run --benchmark split-fmnist --method "$m" \
    --scenario "$scenario" --threads 1 --seed 0 --out "$out/runs" --force "${extra[@]}" \
    >"$out/log" 2>&1
  read -r user sys <"$out/time"
  read -r begin train end evaluation < <(awk '/seconds: begin-task/ {
      b += $3; t += $5; e += $7; v += $9 } END { printf "%.2f %.2f %.2f %.2f\n", b, t, e, v }' \
    "$out/log")
  cpu=$(echo "$user + $sys" | bc -l)
  rest=$(echo "$cpu - $begin - $train - $end - $evaluation" | bc -l)
  [[ -n $base_train ]] || base_train=$train
  printf '| %s | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n' "$m" "$cpu" "$train" "$begin" \
    "$end" "$evaluation" "$rest" "$(echo "$train / $base_train" | bc -l)"
done
