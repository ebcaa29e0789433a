// clbench kernels: which CPU kernels this machine runs and a checksum of each family's output,
// to compare two machines (or modes, or thread counts) in seconds.
#include <cstdio>
#include <memory>

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include "harness/cli/command.h"
#include "harness/foundation/text.h"
#include "harness/run/cpu_kernels.h"
#include "harness/run/kernel_fingerprint.h"
#include "harness/run/plan.h"

namespace clbench {
namespace {

struct KernelsOptions {
  std::string cpu_kernels = kDefaultCpuKernels;
  int threads = kPublishedThreads;
};

int print_fingerprint(const KernelsOptions& o) {
  apply_cpu_kernels(o.cpu_kernels);
  at::set_num_threads(resolve_threads(o.threads));
  const auto rows = kernel_fingerprint();
  const CpuKernels k = cpu_kernels();
  std::printf("processor     %s (%s)\n", k.processor.c_str(), k.vendor.c_str());
  std::printf("cpu_kernels   %s: LibTorch %s kernels, %s, convolutions through %s\n",
              k.mode.c_str(), k.capability.c_str(), k.blas.c_str(),
              k.onednn_convolutions ? "oneDNN/NNPACK where LibTorch picks them" : "ATen + BLAS");
  std::printf("threads       %d\n\n", k.threads);
  const bool comparable = k.mode == kDefaultCpuKernels && k.threads == kPublishedThreads &&
                          !published_digest("all").empty();
  std::printf("%-17s %-16s %-9s %s\n", "family", "digest", "published", "operations");
  int differ = 0;
  for (const auto& r : rows) {
    const std::string published = published_digest(r.family);
    const char* verdict = !comparable || published.empty() ? "-"
                          : published == r.digest          ? "same"
                                                           : "DIFFERS";
    differ += std::string(verdict) == "DIFFERS";
    std::printf("%-17s %-16s %-9s %s\n", r.family.c_str(), r.digest.c_str(), verdict,
                r.operations.c_str());
  }
  if (!comparable) {
    std::printf("\nThe published fingerprint is that of cpu_kernels=%s with %d threads.\n",
                kDefaultCpuKernels, kPublishedThreads);
    return 0;
  }
  std::printf(differ == 0 ? "\nThis machine computes the published bits.\n"
                          : "\nThis machine does NOT compute the published bits: results made "
                            "here differ from the README's.\n");
  return differ == 0 ? 0 : 1;
}

}  // namespace

void add_cpu_kernels_option(CLI::App& command, std::string& mode) {
  command
      .add_option("--cpu-kernels", mode,
                  join(cpu_kernel_modes(), " | ") +
                      " (portable: the same bits on every x86-64 machine with AVX2)")
      ->capture_default_str();
}

Command add_kernels(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "kernels", "the CPU kernels this machine runs and a checksum of each family's output");
  auto o = std::make_shared<KernelsOptions>();
  add_cpu_kernels_option(*cmd, o->cpu_kernels);
  cmd->add_option("--threads", o->threads, "intra-op CPU threads (0: all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, static_cast<int>(max_threads())));
  return {cmd, [o](Communicator*) { return print_fingerprint(*o); }};
}

}  // namespace clbench
