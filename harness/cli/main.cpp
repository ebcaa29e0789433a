// clbench: run continual-learning methods on task streams, write HDF5 results, build leaderboards.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <torch/version.h>
#include <CLI/CLI.hpp>

#include "harness/cli/command.h"
#include "harness/distributed/communicator.h"
#include "harness/engine/step_loop.h"
#include "harness/foundation/error.h"

namespace clbench {
namespace {

constexpr int kExitInterrupted = 75;  // EX_TEMPFAIL: checkpoint written, rerun with --resume
volatile std::sig_atomic_t g_stop_signal = 0;

// The first signal asks the run to stop at its next consistent point; a second one ends the
// process at once, writing nothing (the last checkpoint stays as it was).
void on_stop_signal(int signal) {
  if (g_stop_signal != 0) _exit(128 + signal);
  g_stop_signal = signal;
}

int report(const std::exception& e, const char* prefix) {
  const bool clear = dynamic_cast<const Error*>(&e) != nullptr;
  std::fprintf(stderr, "clbench: %s%s%s\n", prefix,
               clear ? "error: " : "unexpected error: ", e.what());
  return 1;
}

// On every rank of the job; a failing rank aborts the others instead of leaving them waiting.
int run_distributed(const Command& command, int* argc, char*** argv) {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  std::unique_ptr<Communicator> comm;
  try {
    comm = make_communicator(argc, argv);
    return command.run(comm.get());
  } catch (const Interrupted& e) {
    if (!comm || comm->is_root()) std::fprintf(stderr, "clbench: %s\n", e.what());
    return kExitInterrupted;
  } catch (const std::exception& e) {
    if (comm && comm->size() > 1) {
      report(e, ("rank " + std::to_string(comm->rank()) + ": ").c_str());
      std::fflush(stderr);
      comm->abort(1);
    }
    return report(e, "");
  }
}

// How many cores other work keeps busy, from /proc/stat over `window` (this process only sleeps
// meanwhile; time a hypervisor gave to other machines counts as busy). -1 if unreadable.
double cores_busy_elsewhere(std::chrono::milliseconds window) {
  const auto sample = [](double& busy, double& total) {
    std::ifstream in("/proc/stat");
    std::string cpu;
    double user, nice, system, idle, iowait, irq, softirq, steal;
    if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal)) {
      return false;
    }
    busy = user + nice + system + irq + softirq + steal;
    total = busy + idle + iowait;
    return true;
  };
  double busy0, total0, busy1, total1;
  if (!sample(busy0, total0)) return -1;
  std::this_thread::sleep_for(window);
  if (!sample(busy1, total1) || total1 <= total0) return -1;
  return (busy1 - busy0) / (total1 - total0) * std::thread::hardware_concurrency();
}

// OpenMP's worker threads busy-wait for the next parallel region (libgomp: 300,000 spins), so a
// busy neighbour process (a compile, another user's job) takes their cores and every region waits
// for a descheduled spinner: with one neighbour a run took 2.4 times as long here, 9 times on a
// Xeon. Workers that sleep at once (OMP_WAIT_POLICY=PASSIVE) keep it within 1.3x but cost 12-22%
// on an idle machine, where waking them is slower than spinning, and a short spin costs on both
// (bench/README.md, "Beside other work"). So the commands that train look before they start: with
// half a core or more busy elsewhere their workers sleep, otherwise they spin as libgomp does.
// libgomp reads its settings when it is loaded, before main: to sleep, the process runs itself
// again, once, with the setting in its environment (loading LibTorch twice: 0.35 s of CPU, so an
// idle machine, where libgomp's default is the choice, goes on without). With `--threads 1` there
// are no workers to wait, so nothing is looked at. A policy or spin count the user set is kept.
void choose_openmp_wait_policy(int argc, char** argv) {
  if (argc < 2 || std::getenv("OMP_WAIT_POLICY") != nullptr ||
      std::getenv("GOMP_SPINCOUNT") != nullptr) {
    return;
  }
  const std::string command = argv[1];
  if (command != "run" && command != "suite" && command != "pretrain" && command != "embed" &&
      command != "prepare") {
    return;
  }
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads=1" ||
        (arg == "--threads" && i + 1 < argc && std::string(argv[i + 1]) == "1"))
      return;
  }
  if (cores_busy_elsewhere(std::chrono::milliseconds(100)) < 0.5) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: go on with libgomp's default
}

// Everything a command writes is closed (result files are renamed into place) when it returns;
// what remains is LibTorch's static destructors unregistering thousands of operators and the CUDA
// libraries' teardown, 0.17 s of CPU per process. Flush and leave without them.
[[noreturn]] void leave(int status) {
  std::fflush(nullptr);
  std::_Exit(status);
}

}  // namespace

bool stop_requested() {
  return g_stop_signal != 0;
}

}  // namespace clbench

int main(int argc, char** argv) {
  using namespace clbench;
  choose_openmp_wait_policy(argc, argv);
  // Subnormal floats cost ~100x a normal operation on x86 and appear in the backward pass of
  // small-init models (a ViT-B/16 LoRA step: 34 s with them, 28 s flushed). Set before any thread
  // exists, so LibTorch's worker threads inherit it.
  at::globalContext().setFlushDenormal(true);
#ifdef __GLIBC__
  // glibc maps every block above its mmap threshold (at most 32 MB by default) afresh and unmaps
  // it on free, so each evaluation batch's activations (100+ MB) were page-faulted in again: a
  // quarter of a CPU run's time in the kernel (split-fmnist, cnn: 21 s of 84). Keep freed memory.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  CLI::App app{"clbench: continual-learning benchmark harness (LibTorch)"};
  app.require_subcommand(1);
  app.set_version_flag(
      "--version", std::string("clbench ") + CLBENCH_VERSION + " (LibTorch " + TORCH_VERSION + ")");
  const std::vector<Command> commands = {add_list(app),        add_run(app),      add_suite(app),
                                         add_leaderboard(app), add_pretrain(app), add_prepare(app),
                                         add_embed(app),       add_kernels(app),  add_show(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (const auto& command : commands) {
    if (!*command.app) continue;
    if (command.distributed) leave(run_distributed(command, &argc, &argv));
    try {
      leave(command.run(nullptr));
    } catch (const std::exception& e) {
      leave(report(e, ""));
    }
  }
  return 0;
}
