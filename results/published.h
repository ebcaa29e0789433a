#pragma once
// The numbers papers publish, beside the leaderboard's own (`clbench leaderboard DIR --published
// FILE [--check TOL]`): the data file and its reader, the join with the leaderboard's rows, the
// tables with "paper" and "Δ" columns, and the check of every matched cell against a tolerance.
// The file's format and the matching rule: README, "Published numbers".
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "results/leaderboard.h"

namespace clbench {

struct PublishedSource {
  std::string paper, table, row;  // who published it, and where in the paper
};

struct PublishedNumber {
  std::string benchmark, scenario, method;
  std::string label;   // the leaderboard label of the rows it matches: the method unless given
  std::string metric;  // an accuracy statistic's name (accuracy_statistics())
  double value = 0;
  std::optional<double> spread;     // none: the paper gives none
  std::string spread_kind;          // with a spread: "std", "sem", "ci95" or "unstated"
  std::optional<double> tolerance;  // --check: this number's own, instead of TOL
  nlohmann::json protocol = nlohmann::json::object();  // flat config key -> the value a run has
  PublishedSource source;
  std::string file;  // where it was read: the file and the index of its entry
  size_t index = 0;
};

// Every number of the files, in order. Throws clbench::Error naming the file, the entry and the key
// at fault: an unknown key or metric, a missing or mistyped field, a value that is not finite, and
// the same benchmark, scenario, method, label, metric and protocol twice (across files too).
std::vector<PublishedNumber> read_published(const std::vector<std::string>& files);
// One file's parsed JSON (`file` names it in errors), as read_published checks it; numbers that
// earlier files gave are `before`, for the check against duplicates.
std::vector<PublishedNumber> parse_published(const nlohmann::json& doc, const std::string& file,
                                             const std::vector<PublishedNumber>& before = {});

// A leaderboard cell with a published number.
struct PublishedCell {
  size_t entry = 0;     // index into Leaderboard::entries
  size_t number = 0;    // index into PublishedJoin::numbers
  double measured = 0;  // the entry's mean of the number's metric
  double delta = 0;     // measured - the published value
};

struct PublishedJoin {
  std::vector<PublishedNumber> numbers;
  std::vector<PublishedCell> cells;  // by entry, then statistic (accuracy_statistics())
  std::vector<size_t> unmatched;     // the numbers that match no row (indices into numbers)
};

// A number matches a row when its benchmark, scenario, method and label are the row's and every
// protocol key has its value in the row's configuration (numbers compared as numbers, the rest
// exactly; a key the configuration lacks: no match). Where several numbers match one cell, the one
// with the most protocol keys is shown; two as specific are an Error naming both.
PublishedJoin join_published(const Leaderboard& board, std::vector<PublishedNumber> numbers);

// to_json with a "paper" object (value, spread, spread_kind, source, delta, ...) beside every
// matched statistic, and the unmatched numbers under "published_unmatched".
nlohmann::json published_json(const Leaderboard& board, const PublishedJoin& join);
// The "paper" and "Δ" cells of the matched statistics, for to_markdown and leaderboard_tables.
MarkdownAddition published_addition(const PublishedJoin& join);
// to_markdown with "paper" and "Δ" after every statistic that has a match in a benchmark's table
// (tables without one are as they were), then the numbers without a matching run.
std::string published_markdown(const Leaderboard& board, const PublishedJoin& join);

struct PublishedCheck {
  size_t matched = 0;               // cells checked
  std::vector<PublishedCell> over;  // |delta| above the tolerance
  std::string report;               // the lines to print
  int exit_code() const { return over.empty() ? 0 : 3; }
};
// Every matched cell against `tolerance` points (a number's own tolerance where it has one).
// Throws clbench::Error unless tolerance is finite and >= 0.
PublishedCheck check_published(const Leaderboard& board, const PublishedJoin& join,
                               double tolerance);

}  // namespace clbench
