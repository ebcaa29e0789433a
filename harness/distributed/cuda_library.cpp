#include "harness/distributed/cuda_library.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include <ATen/Context.h>
#include <torch/cuda.h>

namespace clbench {
namespace {

struct CudaLibrary {
  bool loaded = false;
  std::string absence;
};

// The folder of libtorch_cpu.so, whose libtorch_cuda.so sits beside it.
std::string torch_library_folder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&at::globalContext), &info) == 0 || info.dli_fname == nullptr)
    return "";
  const std::string path = info.dli_fname;
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

CudaLibrary load() {
  const char* env = std::getenv("CLBENCH_CUDA");
  const std::string mode = env != nullptr ? env : "";
  if (mode == "0") return {false, "CLBENCH_CUDA=0"};
  if (mode != "1" && dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL) == nullptr)
    return {false, "no NVIDIA driver (libcuda.so.1 cannot be loaded)"};
  const std::string path = torch_library_folder() + "/libtorch_cuda.so";
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* why = dlerror();
    CudaLibrary absent{false, "LibTorch's CUDA library cannot be loaded: " +
                                  std::string(why != nullptr ? why : path)};
    if (mode == "1") {  // asked for: say so before anything else runs
      std::fprintf(stderr, "error: CLBENCH_CUDA=1: %s\n", absent.absence.c_str());
      std::exit(2);
    }
    return absent;
  }
  return {true, ""};
}

// Before main() and before any other initialiser of this program asks LibTorch about CUDA (those
// of the shared libraries, LibTorch's own among them, have run: they never ask).
__attribute__((init_priority(101))) const CudaLibrary library = load();

}  // namespace

bool cuda_library_loaded() {
  return library.loaded;
}

std::string cuda_library_absence() {
  return library.absence;
}

std::string cuda_absence_note() {
  return library.loaded ? "" : " (" + library.absence + ")";
}

bool cuda_available() {
  return library.loaded && torch::cuda::is_available();
}

}  // namespace clbench
