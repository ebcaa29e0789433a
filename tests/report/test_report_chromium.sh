#!/usr/bin/env bash
# clbench leaderboard --html opened in headless Chromium, offline (ctest: report_chromium): tiny
# real runs (tests/report/common.sh: finetune and er, 2 seeds, and an incomplete file), then
# checks that the page loads with no console message, that its DOM holds the table, the figures
# (2 accuracy curves, 1 scatter, 3 cost plots, 4 heat maps) and the skipped file, and that a
# screenshot is drawn and not blank. Exits 77 (skipped) without chromium.
#   tests/report/test_report_chromium.sh [path/to/clbench]
set -euo pipefail
# shellcheck source=tests/report/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
command -v chromium >/dev/null || { echo "SKIP: chromium is not installed"; exit 77; }

make_fixture_runs "$BIN" "$TMP/runs"
"$BIN" leaderboard "$TMP/runs" --html "$TMP/report.html" >"$TMP/board.md"

# Offline: in a network namespace of its own where the kernel allows one, and in any case every
# host name unresolvable and every request sent to a closed port.
offline=()
if unshare -n true 2>/dev/null; then offline=(unshare -n); fi
chromium_args=(--headless --no-sandbox --disable-gpu --no-first-run --no-default-browser-check
  --disable-extensions --disable-background-networking --disable-sync --disable-component-update
  --host-resolver-rules="MAP * ~NOTFOUND" --proxy-server=127.0.0.1:9 --proxy-bypass-list="<-loopback>"
  --user-data-dir="$TMP/profile" --enable-logging=stderr --v=0 "--window-size=1280,2400"
  --hide-scrollbars)
open_page() {  # open_page LOG ARGS...: chromium on the report
  local log="$1"
  shift
  timeout 60 "${offline[@]}" chromium "${chromium_args[@]}" "$@" "file://$TMP/report.html" \
    2>"$log" || { cat "$log"; fail "chromium $* exited with $?"; }
}
open_page "$TMP/dom.log" --dump-dom >"$TMP/dom.html"
open_page "$TMP/shot.log" --screenshot="$TMP/shot.png"

# No console message: no script error, no resource that failed to load.
if grep -E 'CONSOLE|Uncaught|Failed to load resource|net::ERR' "$TMP/dom.log" "$TMP/shot.log"; then
  fail "console messages above"
fi
count() { grep -o "$1" "$TMP/dom.html" | wc -l; }
expect() {  # expect WHAT PATTERN N
  local n
  n="$(count "$2")"
  [[ "$n" -eq "$3" ]] || fail "$1: $n in the DOM, expected $3"
}
grep -q '</html>' "$TMP/dom.html" || fail "the page did not load: $(head -c 300 "$TMP/dom.html")"
expect "leaderboard tables" '<table class="leaderboard"' 1
expect "accuracy curves" '<svg class="figure curve"' 2
expect "scatter plots" '<svg class="figure scatter"' 1
expect "cost plots" '<svg class="figure cost"' 3
expect "heat maps" '<svg class="figure heatmap"' 4
expect "rows" '<tr><td>' 3  # finetune, er and the skipped file
grep -qF 'er,buffer=50' "$TMP/dom.html" || fail "the label er,buffer=50 is not in the DOM"
grep -qF "$TMP/runs/incomplete/half.h5" "$TMP/dom.html" || fail "the incomplete file is not listed"

# The screenshot: a PNG of the window's size with more than a few colours.
python3 - "$TMP/shot.png" <<'PY' || fail "the screenshot is blank or not a PNG"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
width, height = struct.unpack(">II", data[16:24])
idat, at = b"", 8
while at < len(data):
    size, kind = struct.unpack(">I4s", data[at:at + 8])
    if kind == b"IDAT":
        idat += data[at + 8:at + 8 + size]
    at += 12 + size
pixels = zlib.decompress(idat)
distinct = len(set(pixels))
print(f"screenshot {width}x{height}, {len(data)} bytes, {distinct} distinct byte values")
assert width == 1280 and height == 2400 and distinct > 32
PY
echo "ok: the report loads offline with no console message; 1 table, 10 figures, a screenshot"
