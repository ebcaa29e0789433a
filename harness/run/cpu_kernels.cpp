#include "harness/run/cpu_kernels.h"

#include <cstdlib>
#include <fstream>

#include <ATen/Version.h>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"

namespace clbench {
namespace {

std::string& applied() {
  static std::string mode;
  return mode;
}

std::string processor_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

}  // namespace

const std::vector<std::string>& cpu_kernel_modes() {
  static const std::vector<std::string> modes = {"avx2", "native"};
  return modes;
}

void apply_cpu_kernels(const std::string& mode) {
  if (mode != "avx2" && mode != "native") {
    throw Error(unknown_name("cpu_kernels mode", mode, cpu_kernel_modes()));
  }
  auto& current = applied();
  if (!current.empty()) {
    if (current == mode) return;
    throw Error("cpu_kernels '" + mode + "' after '" + current +
                "' in one process: the CPU kernels are chosen once per process (give every run of "
                "a suite the same cpu_kernels)");
  }
  if (mode == "avx2") {
    setenv("ATEN_CPU_CAPABILITY", "avx2", 1);
    setenv("MKL_CBWR", "AVX2", 1);
    setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
    const std::string got = at::get_cpu_capability();
    if (got == "DEFAULT") {
      throw Error(
          "cpu_kernels 'avx2' needs a processor with AVX2 (this one has none); set "
          "cpu_kernels=native");
    }
    if (got != "AVX2") {
      throw Error("internal: LibTorch chose its " + got +
                  " kernels before cpu_kernels 'avx2' was applied");
    }
  }
  current = mode;
}

CpuKernels cpu_kernels() {
  return {applied(), at::get_cpu_capability(), processor_name()};
}

}  // namespace clbench
