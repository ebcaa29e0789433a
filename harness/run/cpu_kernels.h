#pragma once
// What decides the bits of a CPU run besides its configuration: which CPU kernels the process runs
// and how many threads split them.
//
// LibTorch (ATen), MKL and oneDNN each pick their kernels from the processor, and different
// kernels round differently. ATen and oneDNN choose by instruction set, MKL also by vendor: its
// conditional-numerical-reproducibility branches other than AUTO and COMPATIBLE run only on Intel
// processors ("Specifying Code Branches", oneMKL developer guide), so MKL_CBWR=AVX2 runs MKL's AVX2
// branch on an Intel Xeon and its AUTO branch on an AMD EPYC, and matrix products and MKL's vector
// math (exp, log, tanh...) round differently. The modes:
//   portable (default): ATen's AVX2 kernels; MKL's AVX2 branch on every processor (MKL's vendor
//     check answered "Intel" by clbench, so the choice depends on the instruction set only);
//     convolutions through ATen's im2col + MKL instead of oneDNN or NNPACK, whose blocking follows
//     the processor's caches. An AMD EPYC computes what an Intel Xeon computes.
//   compatible: the same with MKL's COMPATIBLE branch (SSE2 without the approximate
//     rcpps/rsqrtps), the one branch MKL documents as the same on every vendor; slower.
//   avx2: ATen, MKL and oneDNN capped at AVX2, as before portable: the same bits on machines of
//     one vendor only.
//   native: whatever is fastest here.
#include <cstdint>
#include <string>
#include <vector>

namespace clbench {

inline constexpr const char* kDefaultCpuKernels = "portable";
const std::vector<std::string>& cpu_kernel_modes();  // portable, compatible, avx2, native

// Applies `mode` to this process. Must run before the first tensor operation (the libraries read
// their settings once); a second call with another mode is an error, as is a pinned mode on a
// processor without AVX2, or an MKL that did not take the setting.
void apply_cpu_kernels(const std::string& mode);

struct CpuKernels {
  std::string mode;                 // as applied ("" before apply_cpu_kernels)
  std::string capability;           // what LibTorch uses: DEFAULT, AVX2, AVX512...
  std::string processor;            // the model name of /proc/cpuinfo
  std::string vendor;               // GenuineIntel, AuthenticAMD...
  std::string blas;                 // e.g. "MKL 2024.2.0, branch COMPATIBLE"
  bool onednn_convolutions = true;  // false: convolutions through ATen's im2col + the BLAS
  int threads = 0;                  // intra-op threads now
};
CpuKernels cpu_kernels();

// The intra-op thread count a process uses for `requested` (0: OMP_NUM_THREADS when set, else
// the cores this process may run on, which under Slurm or taskset are the ones it was given).
// The count is part of what decides a run's bits: reductions split their work by thread.
int resolve_threads(int64_t requested);

}  // namespace clbench
