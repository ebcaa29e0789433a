#pragma once
// The generators' reconstruction loss on probabilities, vectorised with the bits of LibTorch's.
#include <cstdint>

#include <torch/types.h>

namespace clbench::generative {

// torch::binary_cross_entropy(p, y, {}, Reduction::None): -(y log p + (1 - y) log(1 - p)) per
// element, each logarithm clamped at -100, computed as ATen's CPU kernel computes it
// (aten/src/ATen/native/Loss.cpp), and its gradient through ATen's own backward. ATen calls the C
// library's log1pf once per element; here log1p(-p) runs eight at a time with the operations of
// fdlibm's log1pf, glibc's (sysdeps/ieee754/flt-32/s_log1pf.c), in its order and without fused
// multiply-adds: the bits of glibc 2.36's for every float of [0, 1] (bench/log1p_exhaustive.cpp).
// log p is the C library's logf, as ATen's. Float32 CPU tensors of one shape on a processor with
// AVX2; any other case, and any p or y outside [0, 1] (ATen's error), is LibTorch's own call.
torch::Tensor binary_cross_entropy_per_element(const torch::Tensor& p, const torch::Tensor& y);

namespace detail {
// log1p(-p) for p[0, n) in [0, 1], eight at a time where the processor has AVX2.
void log1p_of_negated(const float* p, float* out, int64_t n);
}  // namespace detail

}  // namespace clbench::generative
