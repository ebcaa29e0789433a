// clbench leaderboard: every result file below a folder, as Markdown (and JSON) tables.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "harness/cli/command.h"
#include "harness/foundation/files.h"
#include "results/leaderboard.h"

namespace clbench {

Command add_leaderboard(CLI::App& app) {
  auto* sub = app.add_subcommand("leaderboard", "gather result files into a leaderboard");
  struct Args {
    std::string dir, json, markdown;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("dir", a->dir, "folder searched recursively for *.h5")->required();
  sub->add_option("--json", a->json, "write the leaderboard JSON here");
  sub->add_option("--markdown", a->markdown, "write the Markdown tables here");
  return {sub, [a](Communicator*) {
            const Leaderboard board = gather_leaderboard(a->dir);
            if (board.files.empty()) {
              std::fprintf(stderr, "clbench leaderboard: no result files (*.h5) below %s\n",
                           a->dir.c_str());
            }
            const std::string markdown = to_markdown(board);
            std::printf("%s", markdown.c_str());
            // Never over one of the result files it read.
            if (!a->json.empty())
              write_bytes_atomically(a->json, to_json(board).dump(2) + "\n", board.files);
            if (!a->markdown.empty()) write_bytes_atomically(a->markdown, markdown, board.files);
            return 0;
          }};
}

}  // namespace clbench
