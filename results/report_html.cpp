#include "results/report_html.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "results/metrics.h"
#include "results/svg.h"

namespace clbench {
namespace {

using svg::escape;

constexpr size_t kValuesUpTo = 12;  // tasks up to which a heat map prints each cell's value
constexpr double kLogSpan = 100;    // stored parameters spanning more than this ratio: log axis
constexpr double kMiB = 1024.0 * 1024.0;

const char* const kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; margin: 1.5rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; white-space: nowrap; }
th { background: #f3f3f3; }
table.leaderboard td:nth-child(n+4) { text-align: right; font-variant-numeric: tabular-nums; }
table.skipped td { white-space: normal; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
.figures > svg { flex: 0 1 600px; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
svg { max-width: 100%; height: auto; font-size: 12px; }
svg .figure-title { font-size: 14px; font-weight: 600; }
svg .grid { stroke: #e4e4e4; } svg .frame { fill: none; stroke: #555; }
svg .cell { font-size: 10px; }
details { margin: 0.4rem 0; } summary { cursor: pointer; }
.path, .note { color: #555; font-size: 0.85rem; }
)";

// The entries of one benchmark and scenario.
struct Group {
  std::string benchmark, scenario;
  std::vector<const LeaderboardEntry*> entries;  // in the table's order
};

using PerTask = std::function<std::vector<double>(const RunResult&)>;

// The groups of one benchmark's table, by scenario.
std::vector<Group> groups_of(const Leaderboard& board, const LeaderboardTable& table) {
  std::map<std::string, Group> by_scenario;
  for (size_t i : table.entries) {
    const LeaderboardEntry& e = board.entries[i];
    Group& g = by_scenario[e.scenario];
    g.benchmark = e.benchmark;
    g.scenario = e.scenario;
    g.entries.push_back(&e);
  }
  std::vector<Group> groups;
  for (auto& [scenario, g] : by_scenario) groups.push_back(std::move(g));
  return groups;
}

// The entry's name in a legend: its label, and its fingerprint's first digits when another row of
// the group has the same label.
std::string series_name(const LeaderboardEntry& e, const Group& g) {
  const auto same = std::count_if(g.entries.begin(), g.entries.end(),
                                  [&](const LeaderboardEntry* o) { return o->label == e.label; });
  return same > 1 ? e.label + " [" + e.fingerprint.substr(0, 8) + "]" : e.label;
}

// The mean over an entry's runs of a per-task series, task by task (a run without the series, an
// older file, is left out); empty when no run has it.
std::vector<double> mean_per_task(const LeaderboardEntry& e, const PerTask& of) {
  std::vector<double> sum;
  std::vector<int> count;
  for (const auto& run : e.run_list) {
    const std::vector<double> xs = of(run.result);
    if (xs.size() > sum.size()) {
      sum.resize(xs.size(), 0);
      count.resize(xs.size(), 0);
    }
    for (size_t i = 0; i < xs.size(); ++i) {
      sum[i] += xs[i];
      ++count[i];
    }
  }
  for (size_t i = 0; i < sum.size(); ++i) sum[i] /= count[i];
  return sum;
}

std::vector<double> in_mib(const std::vector<int64_t>& bytes) {
  std::vector<double> out;
  for (int64_t b : bytes) out.push_back(static_cast<double>(b) / kMiB);
  return out;
}

std::string nothing_to_draw(const std::string& title) {
  return "<p class=\"note\">" + escape(title) + ": no run of these rows recorded it.</p>";
}

// One line per entry over the tasks: `of` of each run, mean over the entry's runs.
std::string per_task_figure(const std::string& title, const std::string& y_label, const Group& g,
                            const PerTask& of, const std::string& css_class,
                            std::optional<svg::Scale> y = std::nullopt) {
  std::vector<svg::Series> series;
  std::vector<double> values;
  size_t tasks = 1;
  for (const LeaderboardEntry* e : g.entries) {
    const std::vector<double> means = mean_per_task(*e, of);
    if (means.empty()) continue;
    svg::Series s{series_name(*e, g), {}};
    for (size_t i = 0; i < means.size(); ++i) s.points.emplace_back(i + 1.0, means[i]);
    values.insert(values.end(), means.begin(), means.end());
    tasks = std::max(tasks, means.size());
    series.push_back(std::move(s));
  }
  if (series.empty()) return nothing_to_draw(title);
  svg::Scale x{tasks > 1 ? 1.0 : 0.5, tasks > 1 ? static_cast<double>(tasks) : 1.5, false, true};
  svg::Chart chart(title, "after training task", x, y_label, y ? *y : svg::scale_for(values));
  for (const auto& s : series) chart.line(s);
  return chart.svg(css_class);
}

std::string accuracy_curves(const Group& g) {
  const std::string where = g.benchmark + " " + g.scenario;
  const svg::Scale percent{0, 100};
  return per_task_figure(
             "Class-IL accuracy on the tasks seen so far, " + where, "accuracy (%)", g,
             [](const RunResult& r) { return accuracy_curve(r.acc_class_il); }, "figure curve",
             percent) +
         per_task_figure(
             "Task-IL accuracy on the tasks seen so far, " + where, "accuracy (%)", g,
             [](const RunResult& r) { return accuracy_curve(r.acc_task_il); }, "figure curve",
             percent);
}

// The scenario's final accuracy (the table's) against the stored parameters after the last task.
std::string accuracy_against_parameters(const Group& g) {
  const bool task_il = g.scenario == "task-il";
  const std::string title = "Final " + std::string(task_il ? "task-IL" : "class-IL") +
                            " accuracy against stored parameters, " + g.benchmark + " " +
                            g.scenario;
  std::vector<svg::Series> series;
  std::vector<double> xs;
  for (const LeaderboardEntry* e : g.entries) {
    if (e->stored_runs == 0) continue;
    const double acc = (task_il ? e->task_il_final_acc : e->final_acc).mean;
    series.push_back({series_name(*e, g), {{e->stored_final.mean, acc}}});
    xs.push_back(e->stored_final.mean);
  }
  if (series.empty()) return nothing_to_draw(title);
  svg::Chart chart(title, "stored parameters after the last task", svg::scale_for(xs, kLogSpan),
                   "final accuracy (%)", svg::Scale{0, 100});
  for (const auto& s : series) chart.points(s);
  return chart.svg("figure scatter");
}

std::string cost_figures(const Group& g) {
  const std::string where = ", " + g.benchmark + " " + g.scenario;
  const auto cost = [&](const std::string& title, const std::string& y_label, const PerTask& of) {
    return per_task_figure(title + where, y_label, g, of, "figure cost");
  };
  std::string out =
      cost("Wall time per task", "seconds", [](const RunResult& r) { return r.task_seconds; }) +
      cost("Peak host memory per task", "MiB (resident)",
           [](const RunResult& r) { return in_mib(r.peak_host_bytes); }) +
      cost("Training images per second per task", "images/s",
           [](const RunResult& r) { return r.train_images_per_second; });
  const bool gpu = std::any_of(g.entries.begin(), g.entries.end(),
                               [](const LeaderboardEntry* e) { return e->device_runs > 0; });
  if (gpu) {
    out += cost("Peak GPU memory per task", "MiB (allocated)",
                [](const RunResult& r) { return in_mib(r.peak_device_bytes); });
  }
  return out;
}

std::string run_heat_map(const LeaderboardEntry& e, const LeaderboardRun& run) {
  const RunResult& r = run.result;
  const std::string title =
      e.label + ", seed " + std::to_string(r.seed) + ": accuracy (%) on each task";
  return "<p class=\"path\">" + escape(run.path) + "</p>" +
         svg::heat_map(title, {{"class-IL", r.acc_class_il}, {"task-IL", r.acc_task_il}},
                       r.acc_class_il.size() <= kValuesUpTo, "figure heatmap");
}

// Each entry's runs, collapsed: the page stays short with hundreds of runs.
std::string heat_maps(const Group& g) {
  std::string out;
  for (const LeaderboardEntry* e : g.entries) {
    if (e->run_list.empty()) continue;
    out += "<details><summary>" + escape(series_name(*e, g)) + " (" + escape(e->method) + "), " +
           std::to_string(e->run_list.size()) + " run" + (e->run_list.size() == 1 ? "" : "s") +
           "</summary>";
    for (const auto& run : e->run_list) out += run_heat_map(*e, run);
    out += "</details>";
  }
  return out.empty() ? "" : "<h4>Accuracy matrices, one per run</h4>" + out;
}

std::string table_html(const LeaderboardTable& table) {
  std::string out = "<div class=\"scroll\"><table class=\"leaderboard\"><caption>Leaderboard: " +
                    escape(table.benchmark) + "</caption><thead><tr>";
  for (const auto& h : table.headers) out += "<th scope=\"col\">" + escape(h) + "</th>";
  out += "</tr></thead><tbody>";
  for (const auto& row : table.rows) {
    out += "<tr>";
    for (const auto& c : row) out += "<td>" + escape(c) + "</td>";
    out += "</tr>";
  }
  return out + "</tbody></table></div>";
}

std::string benchmark_section(const Leaderboard& board, const LeaderboardTable& table, size_t n) {
  std::string out = "<section id=\"benchmark-" + std::to_string(n) + "\"><h2>" +
                    escape(table.benchmark) + "</h2>" + table_html(table);
  for (const Group& g : groups_of(board, table)) {
    out += "<h3>" + escape(g.benchmark + ", " + g.scenario) + "</h3><div class=\"figures\">" +
           accuracy_curves(g) + accuracy_against_parameters(g) + cost_figures(g) + "</div>" +
           heat_maps(g);
  }
  return out + "</section>";
}

std::string skipped_section(const Leaderboard& board) {
  if (board.skipped.empty()) return "";
  std::string out = "<section id=\"skipped\"><h2>Skipped files (" +
                    std::to_string(board.skipped.size()) +
                    ")</h2><p class=\"note\">Not counted in any row and not drawn in any "
                    "figure.</p><table class=\"skipped\"><thead><tr><th scope=\"col\">File</th>"
                    "<th scope=\"col\">Reason</th></tr></thead><tbody>";
  for (const auto& s : board.skipped)
    out += "<tr><td>" + escape(s.path) + "</td><td>" + escape(s.reason) + "</td></tr>";
  return out + "</tbody></table></section>";
}

std::string summary(const Leaderboard& board, const std::vector<LeaderboardTable>& tables) {
  int runs = 0;
  for (const auto& e : board.entries) runs += e.runs;
  std::string out = "<p>" + std::to_string(board.files.size()) +
                    " result files: " + std::to_string(runs) + " runs in " +
                    std::to_string(board.entries.size()) + " rows, " +
                    std::to_string(board.skipped.size()) + " skipped.</p><nav><ul>";
  for (size_t t = 0; t < tables.size(); ++t) {
    out += "<li><a href=\"#benchmark-" + std::to_string(t) + "\">" + escape(tables[t].benchmark) +
           "</a></li>";
  }
  if (!board.skipped.empty()) out += "<li><a href=\"#skipped\">Skipped files</a></li>";
  return out + "</ul></nav>";
}

const char* const kDefinitions =
    "<p class=\"note\">Table: mean ± sample standard deviation over seeds. Curves: the accuracy "
    "after task i is the mean over tasks j ≤ i of R[i][j] (R: the run's accuracy matrix, row = "
    "task trained last, column = task tested), averaged over the row's seeds; its last point is "
    "the table's Acc. Time, memory and images/s: per task, averaged over the row's seeds.</p>";

}  // namespace

std::string report_html(const Leaderboard& board, const MarkdownAddition& addition) {
  const std::vector<LeaderboardTable> tables = leaderboard_tables(board, addition);
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
      "content=\"width=device-width, initial-scale=1\"><title>clbench leaderboard</title><style>" +
      std::string(kStyle) + "</style></head><body><h1>clbench leaderboard</h1>" +
      summary(board, tables) + kDefinitions;
  for (size_t t = 0; t < tables.size(); ++t) out += benchmark_section(board, tables[t], t);
  return out + skipped_section(board) + "</body></html>\n";
}

}  // namespace clbench
