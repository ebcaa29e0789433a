#pragma once
// Which CPU kernels a process runs. LibTorch (ATen), MKL and oneDNN each pick their kernels from
// the processor (AVX2, AVX-512, AMX...), and different kernels round differently, so the same seed
// gave different numbers on an AVX-512 Xeon than on an AVX2 EPYC. Mode "avx2" pins all three to
// their AVX2 paths (ATEN_CPU_CAPABILITY=avx2, MKL_CBWR=AVX2, ONEDNN_MAX_CPU_ISA=AVX2), which every
// x86-64 machine with AVX2 runs the same; "native" leaves them to choose.
#include <string>
#include <vector>

namespace clbench {

inline constexpr const char* kDefaultCpuKernels = "avx2";
const std::vector<std::string>& cpu_kernel_modes();  // avx2, native

// Applies `mode` to this process. Must run before the first tensor operation (the libraries read
// their settings once); a second call with another mode is an error, as is "avx2" on a processor
// without AVX2.
void apply_cpu_kernels(const std::string& mode);

struct CpuKernels {
  std::string mode;        // as applied ("" before apply_cpu_kernels)
  std::string capability;  // what LibTorch uses: DEFAULT, AVX2, AVX512...
  std::string processor;   // the model name of /proc/cpuinfo
};
CpuKernels cpu_kernels();

}  // namespace clbench
