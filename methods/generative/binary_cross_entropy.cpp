#include "methods/generative/binary_cross_entropy.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "harness/foundation/cpu_features.h"

namespace clbench::generative {
namespace {

constexpr int64_t kBceGrain = 32768;  // ATen's element-wise grain (at::internal::GRAIN_SIZE)

#if defined(__x86_64__)
// fdlibm's log1pf (glibc's sysdeps/ieee754/flt-32/s_log1pf.c) at x = -p for eight p in [0, 1]:
// both of its ranges (k = 0 for |x| <= 0.2929, else 1 + x split into 2^k u) are computed with its
// operations in its order and blended, then its small-|x| and x = -1 cases. Without FMA (the target
// has none), so every product and sum rounds as glibc's does. False where a lane falls in its
// |f| < 2^-20 branch (22 vectors of all floats in [0, 1]), which the caller takes from the C
// library.
__attribute__((target("avx2"))) bool log1p_of_negated8(const float* in, float* out) {
  const __m256 p = _mm256_loadu_ps(in);
  const __m256i ax = _mm256_castps_si256(p);  // the bits of |x|
  const __m256 x = _mm256_xor_ps(p, _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN)));
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
  // x < -0.2929: u = 1 + x, k its exponent (k <= -1, so c = (x - (u - 1)) / u), u normalised.
  const __m256 u1 = _mm256_add_ps(one, x);
  __m256i hu = _mm256_castps_si256(u1);
  __m256i k = _mm256_sub_epi32(_mm256_srli_epi32(hu, 23), _mm256_set1_epi32(127));
  const __m256 c = _mm256_div_ps(_mm256_sub_ps(x, _mm256_sub_ps(u1, one)), u1);
  hu = _mm256_and_si256(hu, _mm256_set1_epi32(0x007fffff));
  const __m256i halved = _mm256_cmpgt_epi32(hu, _mm256_set1_epi32(0x3504f7 - 1));
  const __m256 u =
      _mm256_blendv_ps(_mm256_castsi256_ps(_mm256_or_si256(hu, _mm256_set1_epi32(0x3f800000))),
                       _mm256_castsi256_ps(_mm256_or_si256(hu, _mm256_set1_epi32(0x3f000000))),
                       _mm256_castsi256_ps(halved));
  k = _mm256_sub_epi32(k, halved);  // k += 1 where halved (all ones is -1)
  hu = _mm256_blendv_epi8(
      hu, _mm256_srli_epi32(_mm256_sub_epi32(_mm256_set1_epi32(0x00800000), hu), 2), halved);
  const __m256i split = _mm256_cmpgt_epi32(ax, _mm256_set1_epi32(0x3e95f61f));
  const __m256 f = _mm256_blendv_ps(x, _mm256_sub_ps(u, one), _mm256_castsi256_ps(split));
  // The common tail: s = f / (2 + f), R the polynomial in s^2.
  const __m256 hfsq = _mm256_mul_ps(_mm256_mul_ps(half, f), f);
  const __m256 s = _mm256_div_ps(f, _mm256_add_ps(_mm256_set1_ps(2.0f), f));
  const __m256 z = _mm256_mul_ps(s, s);
  constexpr float kLp[7] = {6.6666668653e-01f, 4.0000000596e-01f, 2.8571429849e-01f,
                            2.2222198546e-01f, 1.8183572590e-01f, 1.5313838422e-01f,
                            1.4798198640e-01f};
  __m256 t = _mm256_mul_ps(z, _mm256_set1_ps(kLp[6]));
  for (int i = 5; i >= 1; --i) t = _mm256_mul_ps(z, _mm256_add_ps(_mm256_set1_ps(kLp[i]), t));
  const __m256 R = _mm256_mul_ps(z, _mm256_add_ps(_mm256_set1_ps(kLp[0]), t));
  const __m256 sr = _mm256_mul_ps(s, _mm256_add_ps(hfsq, R));
  const __m256 unsplit = _mm256_sub_ps(f, _mm256_sub_ps(hfsq, sr));  // k = 0
  const __m256 kf = _mm256_cvtepi32_ps(k);
  const __m256 low = _mm256_add_ps(_mm256_mul_ps(kf, _mm256_set1_ps(9.0580006145e-06f)), c);
  const __m256 split_value =
      _mm256_sub_ps(_mm256_mul_ps(kf, _mm256_set1_ps(6.9313812256e-01f)),
                    _mm256_sub_ps(_mm256_sub_ps(hfsq, _mm256_add_ps(sr, low)), f));
  __m256 r = _mm256_blendv_ps(unsplit, split_value, _mm256_castsi256_ps(split));
  const __m256i small = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x31000000), ax);  // |x| < 2^-29
  r = _mm256_blendv_ps(r, _mm256_sub_ps(x, _mm256_mul_ps(_mm256_mul_ps(x, x), half)),
                       _mm256_castsi256_ps(small));
  const __m256i tiny = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x24800000), ax);  // |x| < 2^-54
  r = _mm256_blendv_ps(r, x, _mm256_castsi256_ps(tiny));
  const __m256i minus_one = _mm256_cmpeq_epi32(ax, _mm256_set1_epi32(0x3f800000));
  r = _mm256_blendv_ps(r, _mm256_set1_ps(-INFINITY), _mm256_castsi256_ps(minus_one));
  _mm256_storeu_ps(out, r);
  const __m256i unlike = _mm256_andnot_si256(
      minus_one, _mm256_and_si256(split, _mm256_cmpeq_epi32(hu, _mm256_setzero_si256())));
  return _mm256_testz_si256(unlike, unlike);
}

// ATen's (y - 1) max(log1p(-p), -100) - y max(log p, -100) for eight elements; false where some p
// or y is outside [0, 1] (or NaN), which ATen refuses.
__attribute__((target("avx2"))) bool bce8(const float* p, const float* y, float* out) {
  const __m256 pv = _mm256_loadu_ps(p), yv = _mm256_loadu_ps(y);
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 inside = _mm256_and_ps(
      _mm256_and_ps(_mm256_cmp_ps(pv, zero, _CMP_GE_OQ), _mm256_cmp_ps(pv, one, _CMP_LE_OQ)),
      _mm256_and_ps(_mm256_cmp_ps(yv, zero, _CMP_GE_OQ), _mm256_cmp_ps(yv, one, _CMP_LE_OQ)));
  if (_mm256_movemask_ps(inside) != 0xff) return false;
  alignas(32) float log1p_neg[8], log_p[8];
  if (!log1p_of_negated8(p, log1p_neg)) {
    for (int j = 0; j < 8; ++j) log1p_neg[j] = std::log1p(-p[j]);
  }
  for (int j = 0; j < 8; ++j) log_p[j] = std::log(p[j]);
  const __m256 floor = _mm256_set1_ps(-100.0f);
  const __m256 a =
      _mm256_mul_ps(_mm256_sub_ps(yv, one), _mm256_max_ps(_mm256_load_ps(log1p_neg), floor));
  const __m256 b = _mm256_mul_ps(yv, _mm256_max_ps(_mm256_load_ps(log_p), floor));
  _mm256_storeu_ps(out, _mm256_sub_ps(a, b));
  return true;
}

// Elements [begin, end); the last partial group of eight through a padded copy.
bool bce_range(const float* p, const float* y, float* out, int64_t begin, int64_t end) {
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    if (!bce8(p + i, y + i, out + i)) return false;
  }
  if (i == end) return true;
  // 0.25 pads in fdlibm's first range (0.5 would take its scalar branch).
  float pp[8] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f}, yy[8] = {}, oo[8];
  std::copy(p + i, p + end, pp);
  std::copy(y + i, y + end, yy);
  if (!bce8(pp, yy, oo)) return false;
  std::copy(oo, oo + (end - i), out + i);
  return true;
}
#endif

bool bce_vectorised(const torch::Tensor& p, const torch::Tensor& y) {
#if defined(__x86_64__)
  return cpu_has_avx2() && p.defined() && y.defined() && p.device().is_cpu() &&
         y.device().is_cpu() && p.scalar_type() == torch::kFloat32 &&
         y.scalar_type() == torch::kFloat32 && p.sizes() == y.sizes() && !y.requires_grad();
#else
  (void)p;
  (void)y;
  return false;
#endif
}

torch::Tensor aten_bce(const torch::Tensor& p, const torch::Tensor& y) {
  return torch::binary_cross_entropy(p, y, {}, at::Reduction::None);
}

// The values; ATen's own call (and so its error) where some element is outside [0, 1].
torch::Tensor bce_values(const torch::Tensor& p_in, const torch::Tensor& y_in) {
#if defined(__x86_64__)
  const auto p = p_in.detach().contiguous(), y = y_in.contiguous();
  auto out = torch::empty_like(p);
  const float* pd = p.data_ptr<float>();
  const float* yd = y.data_ptr<float>();
  float* od = out.data_ptr<float>();
  std::atomic<bool> inside{true};
  at::parallel_for(0, p.numel(), kBceGrain, [&](int64_t begin, int64_t end) {
    if (!bce_range(pd, yd, od, begin, end)) inside = false;
  });
  return inside ? out : aten_bce(p, y);
#else
  return aten_bce(p_in, y_in);
#endif
}

struct BinaryCrossEntropyFunction : torch::autograd::Function<BinaryCrossEntropyFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& p,
                               const torch::Tensor& y) {
    ctx->save_for_backward({p, y});
    return bce_values(p, y);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {
        at::binary_cross_entropy_backward(grads[0], saved[0], saved[1], {}, at::Reduction::None),
        torch::Tensor()};
  }
};

}  // namespace

torch::Tensor binary_cross_entropy_per_element(const torch::Tensor& p, const torch::Tensor& y) {
  if (!bce_vectorised(p, y)) return aten_bce(p, y);
  if (p.requires_grad() && torch::GradMode::is_enabled())
    return BinaryCrossEntropyFunction::apply(p, y);
  return bce_values(p, y);
}

namespace detail {

void log1p_of_negated(const float* p, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__x86_64__)
  if (cpu_has_avx2()) {
    for (; i + 8 <= n; i += 8) {
      if (log1p_of_negated8(p + i, out + i)) continue;
      for (int64_t j = i; j < i + 8; ++j) out[j] = std::log1p(-p[j]);
    }
  }
#endif
  for (; i < n; ++i) out[i] = std::log1p(-p[i]);
}

}  // namespace detail

}  // namespace clbench::generative
