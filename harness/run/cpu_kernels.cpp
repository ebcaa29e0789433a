#include "harness/run/cpu_kernels.h"

#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include "harness/foundation/error.h"
#include "harness/foundation/text.h"

namespace clbench {
namespace {

std::string& applied() {
  static std::string mode;
  return mode;
}

std::string cpuinfo_field(const std::string& field) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

// MKL's own view, looked up at run time: LibTorch builds without MKL have none of it. MKL's
// public mkl_cbwr_get is not exported by LibTorch, its service function of the same signature is.
constexpr int kMklCbwrBranch = 1;      // MKL_CBWR_BRANCH
constexpr int kMklCbwrCompatible = 3;  // MKL_CBWR_COMPATIBLE
constexpr int kMklCbwrAvx2 = 10;       // MKL_CBWR_AVX2

int mkl_branch() {
  using Get = int (*)(int);
  const auto get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "mkl_serv_cbwr_get"));
  return get ? get(kMklCbwrBranch) : -1;
}

std::string mkl_branch_name(int branch) {
  static const std::map<int, std::string> names = {
      {1, "OFF"},        {2, "AUTO"},       {3, "COMPATIBLE"}, {4, "SSE2"},      {6, "SSSE3"},
      {7, "SSE4_1"},     {8, "SSE4_2"},     {9, "AVX"},        {10, "AVX2"},     {12, "AVX512"},
      {14, "AVX512_E1"}, {16, "AVX512_E4"}, {17, "AVX2_E1"},   {18, "AVX512_E5"}};
  const auto it = names.find(branch);
  return it != names.end() ? it->second : std::to_string(branch);
}

std::string blas_description() {
  using Version = void (*)(char*, int);
  const auto version = reinterpret_cast<Version>(dlsym(RTLD_DEFAULT, "MKL_Get_Version_String"));
  if (!version) return at::globalContext().hasMKL() ? "MKL (version unknown)" : "not MKL";
  char text[256] = {};
  version(text, sizeof text - 1);
  std::string name = text;  // "Intel(R) oneAPI Math Kernel Library Version 2024.2-Product ..."
  const auto v = name.find("Version ");
  if (v != std::string::npos) {
    name = "MKL " + name.substr(v + 8, name.find_first_of("- ", v + 8) - v - 8);
  }
  return name + ", branch " + mkl_branch_name(mkl_branch());
}

// MKL asks these two functions whether it runs on an Intel processor, through the dynamic linker,
// and clbench's executables export their own (CMakeLists.txt), so it asks clbench: "yes" in the
// portable mode, before MKL's first call, and otherwise whatever MKL's own would answer.
std::atomic<bool> g_mkl_sees_intel{false};

int mkl_vendor_answer(const char* name) {
  if (g_mkl_sees_intel.load()) return 1;
  using Answer = int (*)();
  const auto own = reinterpret_cast<Answer>(dlsym(RTLD_NEXT, name));
  return own != nullptr ? own() : 0;
}

void pin_avx2(const char* mkl_branch_setting) {
  setenv("ATEN_CPU_CAPABILITY", "avx2", 1);
  setenv("MKL_CBWR", mkl_branch_setting, 1);
  setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
}

void check_avx2(const std::string& mode) {
  const std::string got = at::get_cpu_capability();
  if (got == "DEFAULT") {
    throw Error("cpu_kernels '" + mode +
                "' needs a processor with AVX2 (this one has none); set cpu_kernels=native");
  }
  if (got != "AVX2") {
    throw Error("internal: LibTorch chose its " + got + " kernels before cpu_kernels '" + mode +
                "' was applied");
  }
}

// Convolutions as im2col + GEMM in ATen (ATen/native/ConvolutionMM2d.cpp), so the pinned BLAS
// computes them too, not oneDNN or NNPACK, whose blocking follows the processor's caches.
void convolutions_through_the_blas() {
  at::globalContext().setUserEnabledMkldnn(false);
  at::globalContext().setUserEnabledNNPACK(false);
}

void expect_mkl_branch(const std::string& mode, int expected) {
  const int branch = mkl_branch();
  if (branch != -1 && branch != expected) {
    throw Error("cpu_kernels '" + mode + "': MKL runs its " + mkl_branch_name(branch) +
                " branch, not " + mkl_branch_name(expected) +
                " (MKL was set up before clbench pinned it)");
  }
}

}  // namespace

const std::vector<std::string>& cpu_kernel_modes() {
  static const std::vector<std::string> modes = {"portable", "compatible", "avx2", "native"};
  return modes;
}

void apply_cpu_kernels(const std::string& mode) {
  const auto& modes = cpu_kernel_modes();
  if (std::find(modes.begin(), modes.end(), mode) == modes.end()) {
    throw Error(unknown_name("cpu_kernels mode", mode, cpu_kernel_modes()));
  }
  auto& current = applied();
  if (!current.empty()) {
    if (current == mode) return;
    throw Error("cpu_kernels '" + mode + "' after '" + current +
                "' in one process: the CPU kernels are chosen once per process (give every run of "
                "a suite the same cpu_kernels)");
  }
  if (mode == "portable") {
    g_mkl_sees_intel = true;
    pin_avx2("AVX2");
    check_avx2(mode);
    convolutions_through_the_blas();
    expect_mkl_branch(mode, kMklCbwrAvx2);
  } else if (mode == "compatible") {
    pin_avx2("COMPATIBLE");
    check_avx2(mode);
    convolutions_through_the_blas();
    expect_mkl_branch(mode, kMklCbwrCompatible);
  } else if (mode == "avx2") {
    pin_avx2("AVX2");
    check_avx2(mode);
  }
  current = mode;
}

CpuKernels cpu_kernels() {
  CpuKernels k;
  k.mode = applied();
  k.capability = at::get_cpu_capability();
  k.processor = cpuinfo_field("model name");
  k.vendor = cpuinfo_field("vendor_id");
  k.blas = blas_description();
  k.onednn_convolutions = at::globalContext().userEnabledMkldnn();
  k.threads = at::get_num_threads();
  return k;
}

int resolve_threads(int64_t requested) {
  if (requested > 0) return static_cast<int>(requested);
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);  // "4" or "4,2": the outer level
    if (n > 0) return n;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return 1;
}

}  // namespace clbench

extern "C" {
// MKL's vendor checks (see g_mkl_sees_intel), exported by every clbench executable.
int mkl_serv_intel_cpu_true() {
  return clbench::mkl_vendor_answer("mkl_serv_intel_cpu_true");
}
int mkl_serv_intel_cpu() {
  return clbench::mkl_vendor_answer("mkl_serv_intel_cpu");
}
}
