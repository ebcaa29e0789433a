#pragma once
// The subcommands of `clbench`, one file each: every add_* declares its options on `app` and
// returns how to run it once parsed.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace CLI {
class App;
}

namespace clbench {

class Communicator;

struct Command {
  CLI::App* app = nullptr;
  // Runs the parsed command. Distributed commands run on every rank of the job, get its
  // communicator and stop with exit code 75 on SIGTERM/SIGINT; the others get null.
  std::function<int(Communicator* comm)> run;
  bool distributed = false;
};

Command add_list(CLI::App& app);
Command add_run(CLI::App& app);
Command add_suite(CLI::App& app);
Command add_leaderboard(CLI::App& app);
Command add_show(CLI::App& app);
Command add_pretrain(CLI::App& app);
Command add_prepare(CLI::App& app);
Command add_embed(CLI::App& app);
Command add_kernels(CLI::App& app);

// Set once SIGTERM or SIGINT arrived (distributed commands).
bool stop_requested();

// The --cpu-kernels option of pretrain, embed and kernels (harness/run/cpu_kernels.h); a bad mode
// is refused by apply_cpu_kernels, naming the modes.
void add_cpu_kernels_option(CLI::App& command, std::string& mode);

// Applies --set key=value assignments to `user`.
void apply_sets(nlohmann::json& user, const std::vector<std::string>& sets);

}  // namespace clbench
