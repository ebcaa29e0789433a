#!/usr/bin/env bash
# Two clbench binaries give every method the same numbers, bit for bit: the check behind a change
# that promises not to move a digit (a refactoring of the step loop, the result schema...). Each
# method runs once per binary (seed 0, one thread, 1 epoch per task, class-IL): on split-fmnist
# with the MLP where it accepts one, else on synthetic with a tiny ViT or ResNet and its own tiny
# settings' sizes left at their defaults. The accuracy matrices, init rows and parameter counts
# of the two result files are compared with h5diff (exact). Prints one line per method; exits 1
# if any differs. RUN_FLAGS adds flags to every run (e.g. "--set grad_shards=2": the shard tree on
# one rank). Results in bench/README.md.
#   [RUN_FLAGS=...] bench/same_numbers.sh OLD_BINARY NEW_BINARY [METHOD...]
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 OLD_BINARY NEW_BINARY [METHOD...]" >&2
  exit 2
fi
OLD=$1 NEW=$2
shift 2
methods=("$@")
if [[ ${#methods[@]} -eq 0 ]]; then
  mapfile -t methods < <("$NEW" list | awk '/^methods:/ { on = 1; next } /^[a-z]/ { on = 0 } on { print $1 }')
fi
# A binary that evaluates only the next of the later tasks (eval_future) is asked for the whole
# matrix, so that binaries before and after that change compare entry by entry.
whole_matrix() { [[ $("$1" list --keys 2>/dev/null) == *eval_future* ]] && echo "--set eval_future=all"; }
read -r -a old_whole <<<"$(whole_matrix "$OLD" || true)"
read -r -a new_whole <<<"$(whole_matrix "$NEW" || true)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# The first of these settings a method accepts (a refusal exits before any data is read).
settings=("-b split-fmnist --backbone mlp"
          "-b synthetic --backbone vit-tiny28 --pretrained none"
          "-b synthetic --backbone resnet-tiny --pretrained none --scenario task-il")
failed=0
for m in "${methods[@]}"; do
  verdict="no setting accepted"
  for s in "${settings[@]}"; do
    read -r -a flags <<<"$s"
    read -r -a extra <<<"${RUN_FLAGS:-}"
    common=(run -m "$m" --seed 0 --threads 1 --epochs 1 "${flags[@]}" "${extra[@]}")
    if ! "$OLD" "${common[@]}" "${old_whole[@]}" --out "$out/old" >"$out/$m.old.log" 2>&1; then
      grep -q "bad value\|refused\|accepts\|requires\|needs" "$out/$m.old.log" && continue
      verdict="old binary failed: $(tail -n 1 "$out/$m.old.log")"
      break
    fi
    "$NEW" "${common[@]}" "${new_whole[@]}" --out "$out/new" >"$out/$m.new.log" 2>&1 || {
      verdict="new binary failed: $(tail -n 1 "$out/$m.new.log")"
      break
    }
    bench=${flags[1]}
    a="$out/old/$bench/$m/seed-0.h5" b="$out/new/$bench/$m/seed-0.h5"
    verdict="same bits ($s)"
    for object in /accuracy/class_il /accuracy/task_il /accuracy/init /accuracy/init_task_il \
      /params/trainable /params/stored; do
      if ! h5diff -q "$a" "$b" "$object" "$object" >/dev/null 2>&1; then
        verdict="DIFFERENT $object ($s)"
        break
      fi
    done
    break
  done
  [[ $verdict == same* ]] || failed=1
  printf '%-11s %s\n' "$m" "$verdict"
done
exit "$failed"
