// clbench leaderboard: every result file below a folder, as Markdown (and JSON, CSV) tables and an
// HTML report.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "harness/cli/command.h"
#include "harness/foundation/files.h"
#include "results/leaderboard.h"
#include "results/published.h"
#include "results/report_csv.h"
#include "results/report_html.h"

namespace clbench {

Command add_leaderboard(CLI::App& app) {
  auto* sub = app.add_subcommand("leaderboard", "gather result files into a leaderboard");
  struct Args {
    std::string dir, json, markdown, html, csv;
    std::vector<std::string> published;
    double tolerance = 0;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("dir", a->dir, "folder searched recursively for *.h5")->required();
  sub->add_option("--json", a->json, "write the leaderboard JSON here");
  sub->add_option("--markdown", a->markdown, "write the Markdown tables here");
  sub->add_option("--html", a->html,
                  "write a self-contained HTML report (tables, curves, heat maps, costs) here");
  sub->add_option("--csv", a->csv, "write one CSV row per run and per aggregate here");
  auto* published =
      sub->add_option("--published", a->published,
                      "papers' numbers (JSON) to show beside the measured ones (repeatable)")
          ->allow_extra_args(false);
  auto* check = sub->add_option("--check", a->tolerance,
                                "exit 3 if a matched number differs from the paper's by more "
                                "than TOL points")
                    ->needs(published);
  return {
      sub, [a, check](Communicator*) {
        const std::vector<PublishedNumber> numbers = read_published(a->published);
        GatherOptions options;  // each run's matrices and costs: only for what shows them
        options.keep_runs = !a->html.empty() || !a->csv.empty();
        const Leaderboard board = gather_leaderboard(a->dir, options);
        if (board.files.empty()) {
          std::fprintf(stderr, "clbench leaderboard: no result files (*.h5) below %s\n",
                       a->dir.c_str());
        }
        std::optional<PublishedJoin> join;
        if (!a->published.empty()) join = join_published(board, numbers);
        std::optional<PublishedCheck> checked;  // before any output: a bad TOL is an error
        if (*check) checked = check_published(board, *join, a->tolerance);
        const std::string markdown = join ? published_markdown(board, *join) : to_markdown(board);
        std::printf("%s", markdown.c_str());
        // Never over one of the files it read.
        std::vector<std::string> inputs = board.files;
        inputs.insert(inputs.end(), a->published.begin(), a->published.end());
        if (!a->json.empty()) {
          const auto json = join ? published_json(board, *join) : to_json(board);
          write_bytes_atomically(a->json, json.dump(2) + "\n", inputs);
        }
        if (!a->markdown.empty()) write_bytes_atomically(a->markdown, markdown, inputs);
        if (!a->html.empty()) {
          const MarkdownAddition addition = join ? published_addition(*join) : MarkdownAddition{};
          write_bytes_atomically(a->html, report_html(board, addition), inputs);
        }
        if (!a->csv.empty())
          write_bytes_atomically(a->csv, report_csv(board, join ? &*join : nullptr), inputs);
        if (!checked) return 0;
        std::printf("\n%s", checked->report.c_str());
        return checked->exit_code();
      }};
}

}  // namespace clbench
