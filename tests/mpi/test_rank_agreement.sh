#!/usr/bin/env bash
# Ranks started with different settings or different data must all stop within seconds, naming the
# first difference, never hang or compute a mixture; ranks with node-local folders of the same data
# and their own --out run as one job, and a resume continues rank 0's checkpoint on every rank.
#   test_rank_agreement.sh CLBENCH
set -u
bin="$1"
work="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

# Two ranks, each with its own arguments: two_ranks NAME "RANK 0 ARGS" "RANK 1 ARGS".
two_ranks() {
  local name=$1 args0=$2 args1=$3 start rc
  start=$(date +%s)
  # shellcheck disable=SC2086
  timeout 120 mpirun --oversubscribe -np 1 "$bin" $args0 : -np 1 "$bin" $args1 \
    >"$work/$name.log" 2>&1
  rc=$?
  echo "$name: exit code $rc after $(($(date +%s) - start)) s"
  return $rc
}

# Refused on both ranks within 30 s, the message naming the difference.
expect_refused() {
  local name=$1 pattern=$2 rc
  two_ranks "$name" "$3" "$4"
  rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$name: exit code $rc, expected a refusal"
  grep -q -- "$pattern" "$work/$name.log" || fail "$name: no '$pattern' in: $(tail -5 "$work/$name.log")"
}

synthetic="run -b synthetic -m er --threads 1 --epochs 1 --set grad_shards=2"
expect_refused learning-rate "rank 1 would not run what rank 0 runs: lr is 0.01 on rank 0 and 0.02" \
  "$synthetic --out $work/lr --lr 0.01" "$synthetic --out $work/lr --lr 0.02"
expect_refused method "method is \"er\" on rank 0 and \"finetune\" on rank 1" \
  "$synthetic --out $work/m" "run -b synthetic -m finetune --threads 1 --epochs 1 --set grad_shards=2 --out $work/m"
expect_refused seed "seed is 0 on rank 0 and 1 on rank 1" \
  "$synthetic --out $work/s" "$synthetic --out $work/s --seed 1"

# Fashion-MNIST in two node-local folders; in the third, one training pixel differs.
fmnist=/usr/share/datasets/fashion-mnist
for copy in a b c; do
  mkdir -p "$work/data-$copy"
  for f in "$fmnist"/*.gz; do gzip -dc "$f" >"$work/data-$copy/$(basename "$f" .gz)"; done
done
printf '\xff' | dd of="$work/data-c/train-images-idx3-ubyte" bs=1 seek=$((16 + 784 * 5 + 400)) \
  conv=notrunc status=none
fmnist_run="run -b split-fmnist -m finetune --threads 1 --epochs 1 --set grad_shards=2"
expect_refused data "the data differs: task [0-9]*.s samples differ" \
  "$fmnist_run --data-root $work/data-a --out $work/d0" \
  "$fmnist_run --data-root $work/data-c --out $work/d1"
# The same files in two folders, and an --out per rank: one job, rank 0's result.
two_ranks node-local "$fmnist_run --data-root $work/data-a --out $work/n0" \
  "$fmnist_run --data-root $work/data-b --out $work/n1" ||
  fail "node-local copies of the same data: $(tail -5 "$work/node-local.log")"
[ -f "$work/n0/split-fmnist/finetune/seed-0.h5" ] || fail "node-local: no result in rank 0's --out"

# An interrupted one-rank run (its checkpoint only in rank 0's --out) resumed on two ranks, each
# with its own --out: every rank continues rank 0's checkpoint and the numbers are those of the
# uninterrupted run (grad_shards = 2: the same on one and on two ranks).
long="run -b synthetic -m er --threads 1 --epochs 40 --set grad_shards=2 --checkpoint-every 5"
"$bin" $long --out "$work/whole" >"$work/whole.log" 2>&1 || fail "uninterrupted run: $(tail -3 "$work/whole.log")"
"$bin" $long --out "$work/r0" >"$work/first-part.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  [ -f "$work/r0/synthetic/er/seed-0.ckpt" ] && break
  sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 75 ] || fail "the interrupted run ended with $rc, not 75: $(tail -3 "$work/first-part.log")"
two_ranks resume "$long --resume --out $work/r0" "$long --resume --out $work/r1" ||
  fail "resume with an --out per rank: $(tail -5 "$work/resume.log")"
grep -q "resuming from" "$work/resume.log" || fail "the resumed run did not resume: $(tail -5 "$work/resume.log")"
summary() { grep -o "final acc (class-IL).*task-IL [0-9.]*" "$1"; }
[ -n "$(summary "$work/whole.log")" ] && [ "$(summary "$work/whole.log")" = "$(summary "$work/resume.log")" ] ||
  fail "resumed '$(summary "$work/resume.log")' != uninterrupted '$(summary "$work/whole.log")'"

[ "$fails" -eq 0 ] && echo PASS
exit "$fails"
