// clbench show: one result file as text (settings, metrics, accuracy matrices, costs per task).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "harness/cli/command.h"
#include "results/result_file.h"
#include "results/show.h"

namespace clbench {

Command add_show(CLI::App& app) {
  auto* sub = app.add_subcommand("show", "print one result file: settings, metrics, matrices");
  auto files = std::make_shared<std::vector<std::string>>();
  sub->add_option("files", *files, "result files (*.h5)")->required();
  return {sub, [files](Communicator*) {
            for (size_t i = 0; i < files->size(); ++i) {
              std::printf("%s%s\n%s", i ? "\n" : "", (*files)[i].c_str(),
                          show_result(read_result((*files)[i])).c_str());
            }
            return 0;
          }};
}

}  // namespace clbench
