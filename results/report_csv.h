#pragma once
// clbench leaderboard DIR --csv FILE: the leaderboard as one CSV table (RFC 4180: fields with a
// comma, a quote or a line break are quoted, quotes doubled; lines end with CRLF), for
// spreadsheets and scripts.
#include <string>

#include "results/leaderboard.h"
#include "results/published.h"

namespace clbench {

// One row per leaderboard entry (kind "aggregate": means, and `<name>_std` the standard deviation
// over seeds) followed by one per run of it (kind "run", with its seed and file; `_std` empty) when
// the board was gathered with GatherOptions::keep_runs. The columns: kind, benchmark, scenario,
// method, label, fingerprint, seed, runs, file, every accuracy statistic (accuracy_statistics())
// with its `_std` and, given a join, `_paper` and `_delta` (on aggregate rows, where matched), then
// forward_passes_per_test_image and every cost statistic (cost_statistics()) with its `_std`.
// Numbers are written to 17 significant digits, so they read back as the JSON's; empty where the
// JSON has null.
std::string report_csv(const Leaderboard& board, const PublishedJoin* join = nullptr);

// A field as RFC 4180 writes it: quoted when it holds a comma, a quote, CR or LF.
std::string csv_field(const std::string& text);

}  // namespace clbench
