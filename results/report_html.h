#pragma once
// clbench leaderboard DIR --html FILE: the leaderboard as one self-contained HTML page (no script,
// stylesheet, font or image outside it; figures as inline SVG, results/svg.h). Per benchmark: the
// leaderboard's table (leaderboard_tables: the Markdown's cells), then per scenario the accuracy
// curves (class-IL, task-IL), final accuracy against stored parameters, time, peak host memory and
// training images per second per task (peak GPU memory where runs had it), and each run's accuracy
// matrices as heat maps (collapsed, per row); then the files that were skipped and why. Every text
// taken from the files is escaped.
#include <string>

#include "results/leaderboard.h"

namespace clbench {

// The curve's point at task i is the mean over tasks j <= i of R[i][j] (accuracy_curve), mean over
// an entry's runs: its last point is the table's Acc. The board should be gathered with
// GatherOptions::keep_runs: an entry without its runs has its table row and scatter point but no
// curve, cost line or heat map. `addition`: the paper and Δ columns (published_addition).
std::string report_html(const Leaderboard& board, const MarkdownAddition& addition = {});

}  // namespace clbench
