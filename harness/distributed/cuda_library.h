#pragma once
// LibTorch's CUDA half (libtorch_cuda.so, with cuBLAS, cuDNN, NCCL...) is loaded at start-up only
// where a GPU can be used: a process on a machine without NVIDIA's driver saves its load (about
// 0.3 s of CPU and 350 MB of memory per process). LibTorch decides once, at its first CUDA
// question, whether CUDA exists, so the load happens before main(), from this layer.
// CLBENCH_CUDA=0 never loads it, CLBENCH_CUDA=1 always does (it must then load), unset: when the
// driver's library (libcuda.so.1) is there.
#include <string>

namespace clbench {

// Whether LibTorch's CUDA half is loaded (its kernels and hooks registered).
bool cuda_library_loaded();
// Why it is not, when it is not ("" when it is).
std::string cuda_library_absence();
// " (why)" for an error message that no GPU can be used, "" when the library is loaded.
std::string cuda_absence_note();
// A GPU can be used: the library is loaded and a device is visible (torch::cuda::is_available).
bool cuda_available();

}  // namespace clbench
