#!/usr/bin/env bash
# clbench leaderboard --csv read back by Python's csv module (ctest: report_csv_python): tiny real
# runs (tests/report/common.sh), then tests/report/check_csv.py against --json.
#   tests/report/test_report_csv.sh [path/to/clbench]
set -euo pipefail
# shellcheck source=tests/report/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

make_fixture_runs "$BIN" "$TMP/runs"
"$BIN" leaderboard "$TMP/runs" --csv "$TMP/board.csv" --json "$TMP/board.json" >"$TMP/board.md"
python3 "$ROOT/tests/report/check_csv.py" "$TMP/board.csv" "$TMP/board.json" 'er,buffer=50' \
  'replay, "50"'
