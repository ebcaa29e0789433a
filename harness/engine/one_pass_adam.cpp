// Adam and AdamW in two passes over each float32 tensor, with LibTorch's bits
// (harness/engine/one_pass_optimizers.h).
#include <algorithm>
#include <cmath>

#include <immintrin.h>

#include <ATen/Parallel.h>

#include <torch/torch.h>

#include "harness/engine/one_pass_optimizers.h"
#include "harness/engine/optim.h"
#include "harness/foundation/cpu_features.h"

namespace clbench {
namespace {

using torch::Tensor;

// The float scalars ATen's kernels see in Adam::step and AdamW::step (each double converted once,
// as Scalar::to<float>), for one step of one parameter group.
struct AdamUpdate {
  bool scaled = false;                               // AdamW: p *= scale, scale = 1 - lr wd
  float scale = 1;                                   //
  bool decayed = false;                              // Adam: g += decay p
  float decay = 0;                                   //
  float beta1 = 0, keep1 = 0, beta2 = 0, keep2 = 0;  // betas and 1 - betas
  float root_correction = 1;                         // sqrt(1 - beta2^t)
  float eps = 0;
  float step = 0;  // -lr / (1 - beta1^t)
};

// The first pass, one element: AdamW's p.mul_(scale); Adam's grad.add(p, decay);
// exp_avg.mul_(beta1).add_(g, keep1); exp_avg_sq.mul_(beta2).addcmul_(g, g, keep2). ATen's add with
// alpha is fmadd(g, alpha, x), its addcmul fmadd(value g, g, x).
inline void moments_one(float& p, float g, float& m, float& v, const AdamUpdate& u) {
  if (u.scaled) p *= u.scale;
  if (u.decayed) g = std::fma(p, u.decay, g);
  m = std::fma(g, u.keep1, m * u.beta1);
  v = std::fma(u.keep2 * g, g, v * u.beta2);
}

__attribute__((target("avx2,fma"))) void moments_avx2(float* p, const float* g, float* m, float* v,
                                                      int64_t n, const AdamUpdate& u) {
  const __m256 scale = _mm256_set1_ps(u.scale), decay = _mm256_set1_ps(u.decay);
  const __m256 beta1 = _mm256_set1_ps(u.beta1), keep1 = _mm256_set1_ps(u.keep1);
  const __m256 beta2 = _mm256_set1_ps(u.beta2), keep2 = _mm256_set1_ps(u.keep2);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 w = _mm256_loadu_ps(p + i), d = _mm256_loadu_ps(g + i);
    if (u.scaled) {
      w = _mm256_mul_ps(w, scale);
      _mm256_storeu_ps(p + i, w);
    }
    if (u.decayed) d = _mm256_fmadd_ps(w, decay, d);
    _mm256_storeu_ps(m + i,
                     _mm256_fmadd_ps(d, keep1, _mm256_mul_ps(_mm256_loadu_ps(m + i), beta1)));
    _mm256_storeu_ps(v + i, _mm256_fmadd_ps(_mm256_mul_ps(keep2, d), d,
                                            _mm256_mul_ps(_mm256_loadu_ps(v + i), beta2)));
  }
  for (; i < n; ++i) moments_one(p[i], g[i], m[i], v[i], u);
}

// The second pass, from root = exp_avg_sq.sqrt() (ATen's own square root):
// denom = (root / root_correction).add_(eps); p.addcdiv_(exp_avg, denom, step), which is
// p + (step m) / denom.
inline void apply_one(float& p, float m, float root, const AdamUpdate& u) {
  p += u.step * m / (root / u.root_correction + u.eps);
}

__attribute__((target("avx2,fma"))) void apply_avx2(float* p, const float* m, const float* root,
                                                    int64_t n, const AdamUpdate& u) {
  const __m256 correction = _mm256_set1_ps(u.root_correction), eps = _mm256_set1_ps(u.eps);
  const __m256 step = _mm256_set1_ps(u.step);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_loadu_ps(root + i), correction), eps);
    const __m256 change = _mm256_div_ps(_mm256_mul_ps(step, _mm256_loadu_ps(m + i)), denom);
    _mm256_storeu_ps(p + i, _mm256_add_ps(_mm256_loadu_ps(p + i), change));
  }
  for (; i < n; ++i) apply_one(p[i], m[i], root[i], u);
}

// Elements per block: the block's parameters, gradients, moments and square roots stay in the
// core's cache between the two passes and ATen's square root in the middle.
constexpr int64_t kAdamBlock = 16384;

// One tensor's update, in blocks on the run's threads. ATen's sqrt is its vectorised (MKL VML
// where LibTorch has it) kernel, whose bits are not always the correctly rounded root, so it is
// called, not rewritten.
void adam_update_tensor(float* p, const float* g, float* m, float* v, int64_t n,
                        const AdamUpdate& u) {
  const int64_t blocks = (n + kAdamBlock - 1) / kAdamBlock;
  at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
    std::vector<float> root(static_cast<size_t>(std::min(n, kAdamBlock)));
    const auto options = torch::TensorOptions().dtype(torch::kFloat32);
    for (int64_t b = first; b < last; ++b) {
      const int64_t begin = b * kAdamBlock, count = std::min(kAdamBlock, n - begin);
      moments_avx2(p + begin, g + begin, m + begin, v + begin, count, u);
      auto out = torch::from_blob(root.data(), {count}, options);
      at::sqrt_out(out, torch::from_blob(v + begin, {count}, options));
      apply_avx2(p + begin, m + begin, root.data(), count, u);
    }
  });
}

// The state Adam::step and AdamW::step create for a parameter (step 0, zero moments).
template <class State>
State& adam_state_of(
    ska::flat_hash_map<void*, std::unique_ptr<torch::optim::OptimizerParamState>>& states,
    const Tensor& p) {
  auto it = states.find(p.unsafeGetTensorImpl());
  if (it == states.end()) {
    auto s = std::make_unique<State>();
    s->step(0);
    s->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
    s->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
    it = states.emplace(p.unsafeGetTensorImpl(), std::move(s)).first;
  }
  return static_cast<State&>(*it->second);
}

// Base: torch::optim::Adam or AdamW; kDecoupled: AdamW's weight decay on the parameter instead of
// Adam's on the gradient.
template <class Base, class Options, class State, bool kDecoupled>
class OnePassAdam : public Base {
 public:
  using Base::Base;

  Tensor step(typename Base::LossClosure closure = nullptr) override {
    if (!cpu_has_avx2_fma() || !supported()) return Base::step(std::move(closure));
    const Tensor loss = closure_loss(closure);
    torch::NoGradGuard no_grad;
    for (auto& group : this->param_groups_) {
      const auto& o = static_cast<const Options&>(group.options());
      const auto [beta1, beta2] = o.betas();
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        auto& state = adam_state_of<State>(this->state_, p);
        state.step(state.step() + 1);
        // The scalars as Adam::step computes them in double, each then given to a float kernel.
        const double correction1 = 1 - std::pow(beta1, state.step());
        const double correction2 = 1 - std::pow(beta2, state.step());
        AdamUpdate u;
        u.scaled = kDecoupled && o.weight_decay() != 0;
        u.scale = static_cast<float>(1 - o.lr() * o.weight_decay());
        u.decayed = !kDecoupled && o.weight_decay() != 0;
        u.decay = static_cast<float>(o.weight_decay());
        u.beta1 = static_cast<float>(beta1);
        u.keep1 = static_cast<float>(1 - beta1);
        u.beta2 = static_cast<float>(beta2);
        u.keep2 = static_cast<float>(1 - beta2);
        u.root_correction = static_cast<float>(std::sqrt(correction2));
        u.eps = static_cast<float>(o.eps());
        u.step = static_cast<float>(-(o.lr() / correction1));
        adam_update_tensor(p.template data_ptr<float>(), p.grad().template data_ptr<float>(),
                           state.exp_avg().template data_ptr<float>(),
                           state.exp_avg_sq().template data_ptr<float>(), p.numel(), u);
      }
    }
    return loss;
  }

 private:
  // No amsgrad, and every tensor a step touches is one dense float32 CPU array shaped as its
  // parameter (a state not made yet will be).
  bool supported() const {
    for (const auto& group : this->param_groups_) {
      if (static_cast<const Options&>(group.options()).amsgrad()) return false;
      for (const auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        if (!detail::dense_float_cpu(p, p) || !detail::dense_float_cpu(p.grad(), p)) return false;
        const auto it = this->state_.find(p.unsafeGetTensorImpl());
        if (it == this->state_.end()) continue;
        const auto& s = static_cast<const State&>(*it->second);
        if (!detail::dense_float_cpu(s.exp_avg(), p) || !detail::dense_float_cpu(s.exp_avg_sq(), p))
          return false;
      }
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_one_pass_adam(
    std::vector<torch::optim::OptimizerParamGroup> groups,
    const torch::optim::AdamOptions& defaults) {
  using namespace torch::optim;
  return std::make_unique<OnePassAdam<Adam, AdamOptions, AdamParamState, false>>(std::move(groups),
                                                                                 defaults);
}

std::unique_ptr<torch::optim::Optimizer> make_one_pass_adamw(
    std::vector<torch::optim::OptimizerParamGroup> groups,
    const torch::optim::AdamWOptions& defaults) {
  using namespace torch::optim;
  return std::make_unique<OnePassAdam<AdamW, AdamWOptions, AdamWParamState, true>>(
      std::move(groups), defaults);
}

}  // namespace clbench
