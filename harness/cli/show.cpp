// clbench show: one result file as text (settings, metrics, accuracy matrices, costs per task);
// --schema: the layout of every result file.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "harness/cli/command.h"
#include "harness/foundation/error.h"
#include "results/result_file.h"
#include "results/show.h"

namespace clbench {

Command add_show(CLI::App& app) {
  auto* sub = app.add_subcommand("show", "print one result file: settings, metrics, matrices");
  auto files = std::make_shared<std::vector<std::string>>();
  auto schema = std::make_shared<bool>(false);
  sub->add_option("files", *files, "result files (*.h5)");
  sub->add_flag("--schema", *schema,
                "print the result file's layout (every dataset and attribute, since which "
                "schema version) instead");
  return {sub, [files, schema](Communicator*) {
            if (*schema != files->empty())
              throw Error("clbench show takes result files or --schema, not both or neither");
            if (*schema) {
              std::printf("%s", result_schema_table().c_str());
              return 0;
            }
            for (size_t i = 0; i < files->size(); ++i) {
              std::printf("%s%s\n%s", i ? "\n" : "", (*files)[i].c_str(),
                          show_result(read_result((*files)[i])).c_str());
            }
            return 0;
          }};
}

}  // namespace clbench
