#!/usr/bin/env bash
# A rank killed with SIGKILL in the middle of training must end the whole job quickly with a
# message, never leave the other rank waiting in a collective.
set -u
bin="$1"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun --oversubscribe -np 2 "$bin" run -b synthetic -m er --epochs 500 --threads 1 \
  --out "$out" >"$out/log" 2>&1 &
launcher=$!
ranks=""
for _ in $(seq 200); do
  ranks="$(ps -o pid= --ppid "$launcher" 2>/dev/null | tr -s ' \n' ' ')"
  [ "$(echo $ranks | wc -w)" -ge 2 ] && break
  sleep 0.1
done
[ "$(echo $ranks | wc -w)" -ge 2 ] || { echo "FAIL: ranks did not start"; cat "$out/log"; exit 1; }
sleep 2  # well into training
victim="$(echo $ranks | awk '{print $2}')"
kill -9 "$victim"
start=$(date +%s)
for _ in $(seq 600); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$launcher" 2>/dev/null; then
  echo "FAIL: the job still runs 60 s after rank pid $victim was killed"
  kill -9 "$launcher" $ranks 2>/dev/null
  exit 1
fi
wait "$launcher"
rc=$?
elapsed=$(( $(date +%s) - start ))
echo "job ended with exit code $rc, ${elapsed}s after one rank was killed"
tail -5 "$out/log"
[ "$rc" -ne 0 ] || { echo "FAIL: exit code 0 after a rank died"; exit 1; }
[ "$elapsed" -le 30 ] || { echo "FAIL: took ${elapsed}s"; exit 1; }
echo PASS
