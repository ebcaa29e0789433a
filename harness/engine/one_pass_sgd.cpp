#include "harness/engine/one_pass_optimizers.h"

#include <cmath>

#include <immintrin.h>

#include <ATen/Parallel.h>

#include <torch/torch.h>

#include "harness/engine/optim.h"
#include "harness/foundation/cpu_features.h"

namespace clbench {
namespace {

using torch::Tensor;
using torch::optim::SGDOptions;
using torch::optim::SGDParamState;

// The float scalars ATen's kernels see (each double option converted once, as Scalar::to<float>).
struct Update {
  float decay = 0, momentum = 0, keep = 1, step = 0;  // weight_decay, momentum, 1 - dampening, -lr
  bool decayed = false, with_momentum = false, nesterov = false;
};

// One element, as SGD::step's kernels compute it: d = g + decay p; buf = buf m + keep d (or d on
// the first step); d = nesterov ? d + m buf : buf; p = p + step d. Every `x + a y` is
// fmadd(y, a, x), ATen's vectorised add (aten/src/ATen/native/ufunc/add.h).
inline void update_one(float& p, float g, float* buf, bool first, const Update& u) {
  float d = u.decayed ? std::fma(p, u.decay, g) : g;
  if (u.with_momentum) {
    const float b = first ? d : std::fma(d, u.keep, *buf * u.momentum);
    *buf = b;
    d = u.nesterov ? std::fma(b, u.momentum, d) : b;
  }
  p = std::fma(d, u.step, p);
}

__attribute__((target("avx2,fma"))) void update_avx2(float* p, const float* g, float* buf,
                                                     int64_t n, bool first, const Update& u) {
  const __m256 decay = _mm256_set1_ps(u.decay), momentum = _mm256_set1_ps(u.momentum);
  const __m256 keep = _mm256_set1_ps(u.keep), step = _mm256_set1_ps(u.step);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 w = _mm256_loadu_ps(p + i);
    __m256 d = _mm256_loadu_ps(g + i);
    if (u.decayed) d = _mm256_fmadd_ps(w, decay, d);
    if (u.with_momentum) {
      const __m256 b =
          first ? d : _mm256_fmadd_ps(d, keep, _mm256_mul_ps(_mm256_loadu_ps(buf + i), momentum));
      _mm256_storeu_ps(buf + i, b);
      d = u.nesterov ? _mm256_fmadd_ps(b, momentum, d) : b;
    }
    _mm256_storeu_ps(p + i, _mm256_fmadd_ps(d, step, w));
  }
  for (; i < n; ++i) update_one(p[i], g[i], buf ? buf + i : nullptr, first, u);
}

class OnePassSgd : public torch::optim::SGD {
 public:
  using SGD::SGD;

  Tensor step(LossClosure closure = nullptr) override {
    if (!cpu_has_avx2_fma() || !all_dense()) return SGD::step(std::move(closure));
    const Tensor loss = closure_loss(closure);
    torch::NoGradGuard no_grad;
    for (auto& group : param_groups_) {
      const auto& o = static_cast<const SGDOptions&>(group.options());
      Update u;
      u.decayed = o.weight_decay() != 0;
      u.decay = static_cast<float>(o.weight_decay());
      u.with_momentum = o.momentum() != 0;
      u.momentum = static_cast<float>(o.momentum());
      u.keep = static_cast<float>(1 - o.dampening());
      u.nesterov = o.nesterov();
      u.step = static_cast<float>(-1 * o.lr());
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        float* buf = nullptr;
        bool first = false;
        if (u.with_momentum) {
          auto it = state_.find(p.unsafeGetTensorImpl());
          first = it == state_.end();
          if (first) {  // SGD::step's clone of the first step's d
            auto s = std::make_unique<SGDParamState>();
            s->momentum_buffer(torch::empty_like(p, at::MemoryFormat::Contiguous));
            it = state_.emplace(p.unsafeGetTensorImpl(), std::move(s)).first;
          }
          buf = static_cast<SGDParamState&>(*it->second).momentum_buffer().data_ptr<float>();
        }
        float* w = p.data_ptr<float>();
        const float* g = p.grad().data_ptr<float>();
        // In chunks on the run's threads, as ATen's element-wise kernels (grain 32768).
        at::parallel_for(0, p.numel(), at::internal::GRAIN_SIZE, [&](int64_t begin, int64_t end) {
          update_avx2(w + begin, g + begin, buf ? buf + begin : nullptr, end - begin, first, u);
        });
      }
    }
    return loss;
  }

 private:
  // Every tensor this step touches is one dense float32 CPU array shaped as its parameter.
  bool all_dense() const {
    for (const auto& group : param_groups_) {
      const bool momentum = static_cast<const SGDOptions&>(group.options()).momentum() != 0;
      for (const auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        if (!detail::dense_float_cpu(p, p) || !detail::dense_float_cpu(p.grad(), p)) return false;
        if (!momentum) continue;
        const auto it = state_.find(p.unsafeGetTensorImpl());
        if (it != state_.end() &&
            !detail::dense_float_cpu(
                static_cast<const SGDParamState&>(*it->second).momentum_buffer(), p))
          return false;
      }
    }
    return true;
  }
};

}  // namespace

namespace detail {

bool dense_float_cpu(const Tensor& t, const Tensor& like) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous() &&
         t.sizes() == like.sizes();
}

}  // namespace detail

std::unique_ptr<torch::optim::Optimizer> make_one_pass_sgd(
    std::vector<torch::optim::OptimizerParamGroup> groups, const SGDOptions& defaults) {
  return std::make_unique<OnePassSgd>(std::move(groups), defaults);
}

}  // namespace clbench
