#pragma once
// `clbench kernels`: a checksum of each CPU kernel family's output for fixed inputs, so two
// machines (or two settings) can be compared in seconds: equal digests, equal bits. The inputs
// come from SplitMix64, not from LibTorch's generators, so only the kernels under test decide.
#include <string>
#include <vector>

namespace clbench {

struct KernelDigest {
  std::string family;      // gemm, convolution, ...
  std::string operations;  // what it covers
  std::string digest;      // 16 hex digits: FNV-1a of the outputs' bytes
};

// Runs every family under this process's kernels and thread count; the last entry, "all", is the
// digest of the others.
std::vector<KernelDigest> kernel_fingerprint();

// The fingerprint of cpu_kernels=portable at kPublishedThreads threads with LibTorch 2.11.0 (the
// quick start's mode and thread count), as in the README; empty digest: not published.
inline constexpr int kPublishedThreads = 2;
std::string published_digest(const std::string& family);

}  // namespace clbench
