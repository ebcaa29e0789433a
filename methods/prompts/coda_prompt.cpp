// CODA-Prompt (Smith et al., CVPR 2023, Sec. 4): every prefixed block has a pool of components,
// each a prompt P_m, a key K_m and an attention vector A_m. An image's prompt is the weighted sum
// p = sum_m alpha_m P_m with alpha_m = cos(q ⊙ A_m, K_m) (Eq. 4-5, no softmax), split into key and
// value halves for prefix-tuning. Each task owns pool / T new components; earlier tasks' stay
// frozen (detached) and still take part. As the official code (GT-RIPL/CODA-Prompt models/zoo.py,
// `--prompt_param 100 8 0.0`): pool 100, length 8, blocks 0-4, orthogonality penalty mu = 0
// (Eq. 6's weight, a key), new components Gram-Schmidt initialised against the earlier ones at
// the start of their task, Adam lr 1e-3 with its cosine schedule.
// The official Gram-Schmidt retries forever once a task's components outnumber the dimensions
// left (a small ViT); here such a component is drawn without the constraint, normalised.
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "methods/prompts/prompt_method.h"

namespace clbench {
namespace {

struct CodaPromptOptions {
  TORCH_ARG(int64_t, pool) = 100;
  TORCH_ARG(int64_t, length) = 8;
  TORCH_ARG(std::vector<int64_t>, layers) = {0, 1, 2, 3, 4};
  TORCH_ARG(double, ortho_mu) = 0.0;

 public:
  template <class V>
  void visit(V& v) {
    v("pool", pool_, "components per block (official: 100), pool / T per task", {1, 100000});
    v("length", length_, "tokens per component, half keys and half values (official: 8)",
      {2, 100000});
    v("layers", layers_, "blocks with components (official: 0-4; those the ViT has)",
      integers().distinct(), {0, 1000});
    v("ortho_mu", ortho_mu_, "weight of the orthogonality penalty on K, A and P (official: 0)",
      {0, 1e12});
  }
  void check(const std::string& prefix) const { check_prefix_length(prefix, "length", length_); }
};

// One task's components in one block.
struct Components {
  torch::Tensor keys, attention, prompts;  // {n, D}, {n, D}, {n, L, D}
};

// `count` unit vectors of `width` numbers drawn from N(0, 1) and made orthogonal to the rows of
// `earlier` {k, width} and to each other (classical Gram-Schmidt, in float64); {count, width}.
torch::Tensor orthogonal_rows(const torch::Tensor& earlier, int64_t count, int64_t width,
                              at::Generator& gen) {
  std::vector<torch::Tensor> basis;  // orthonormal, float64
  if (earlier.defined() && earlier.size(0) > 0) {
    const auto q = std::get<0>(torch::linalg_qr(earlier.to(torch::kDouble).t()));  // {width, k}
    const auto r = torch::linalg_matrix_rank(earlier.to(torch::kDouble)).item<int64_t>();
    for (int64_t j = 0; j < r; ++j) basis.push_back(q.select(1, j));
  }
  auto out = torch::empty({count, width}, torch::kDouble);
  for (int64_t i = 0; i < count; ++i) {
    const auto v = torch::randn({width}, gen, torch::kDouble);
    auto u = v.clone();
    for (int pass = 0; pass < 2; ++pass) {  // twice: orthogonal to rounding
      for (const auto& b : basis) u -= b.dot(u) * b;
    }
    if (u.norm().item<double>() > 1e-6 * v.norm().item<double>()) {
      u /= u.norm();
      basis.push_back(u);
    } else {
      u = v / v.norm();  // no dimension left
    }
    out[i] = u;
  }
  return out.to(torch::kFloat);
}

class CodaPrompt : public PromptMethod {
 public:
  explicit CodaPrompt(CodaPromptOptions o) : opt_(std::move(o)) {}

  void init_prompts() override {
    layers_ = blocks_of(opt_.layers());
    const auto tasks = static_cast<int64_t>(ctx_.stream->tasks.size());
    per_task_ = opt_.pool() / tasks;
    if (per_task_ < 1) {
      throw Error("coda-prompt: key 'coda-prompt.pool' = " + std::to_string(opt_.pool()) +
                  " leaves no component for each of the stream's " + std::to_string(tasks) +
                  " tasks");
    }
  }

  // The task's components, made once (a run resumed inside the task has them already).
  void on_begin_task(const Task& task) override {
    for (size_t t = 0; t < components_.size(); ++t) {
      for (auto& c : components_[t]) {
        for (auto* x : {&c.keys, &c.attention, &c.prompts}) {
          x->requires_grad_(static_cast<int64_t>(t) == task.index);  // earlier tasks': frozen
        }
      }
    }
    if (static_cast<int64_t>(components_.size()) > task.index) return;
    std::vector<Components> added;
    for (size_t b = 0; b < layers_.size(); ++b) {
      const auto earlier = all(b, false);
      const auto fresh = [&](const torch::Tensor& before, int64_t width) {
        return orthogonal_rows(
            before.defined() ? before.reshape({before.size(0), width}).cpu() : torch::Tensor(),
            per_task_, width, generator());
      };
      Components c;
      c.keys = fresh(earlier.keys, dim()).to(options()).requires_grad_(true);
      c.attention = fresh(earlier.attention, dim()).to(options()).requires_grad_(true);
      c.prompts = fresh(earlier.prompts, opt_.length() * dim())
                      .reshape({per_task_, opt_.length(), dim()})
                      .to(options())
                      .requires_grad_(true);
      added.push_back(std::move(c));
    }
    components_.push_back(std::move(added));
  }

  Prompts select(const Batch& batch, bool training) override {
    const auto query = this->query(batch);
    namespace F = torch::nn::functional;
    Prompts p;
    p.prefixes.resize(depth());
    for (size_t b = 0; b < layers_.size(); ++b) {
      const auto c = all(b, true);
      if (!c.keys.defined()) continue;  // before the first task: none
      // alpha {B, n} = cos(q ⊙ A_m, K_m), Eq. 4
      const auto attended = F::normalize(query.unsqueeze(1) * c.attention.unsqueeze(0),
                                         F::NormalizeFuncOptions().dim(2));
      const auto alpha =
          (attended * F::normalize(c.keys, F::NormalizeFuncOptions().dim(1)).unsqueeze(0)).sum(2);
      const auto prompt = torch::einsum("bk,kld->bld", {alpha, c.prompts});  // Eq. 5
      p.prefixes[static_cast<size_t>(layers_[b])] = split_prefix(prompt);
      if (training && opt_.ortho_mu() > 0) {  // a term of the batch, as a shard's mean is
        const auto penalty =
            opt_.ortho_mu() * (ortho(c.keys) + ortho(c.attention) + ortho(c.prompts.flatten(1)));
        p.loss = p.loss.defined() ? p.loss + penalty : penalty;
      }
    }
    return p;
  }

  std::vector<torch::Tensor> prompt_parameters() override {
    std::vector<torch::Tensor> out;
    for (auto& c : components_[static_cast<size_t>(task_->index)]) {
      out.insert(out.end(), {c.keys, c.attention, c.prompts});
    }
    return out;
  }
  std::vector<torch::Tensor> stored_prompts() const override {
    std::vector<torch::Tensor> out;
    for (const auto& task_components : components_) {
      for (const auto& c : task_components) out.insert(out.end(), {c.keys, c.attention, c.prompts});
    }
    return out;
  }

  void state(StateVisitor& v) override {
    v("coda.generator", generator());
    v.each("coda.tasks", components_, [](StateVisitor& v, std::vector<Components>& blocks) {
      v.each("blocks", blocks, [](StateVisitor& v, Components& c) {
        v("keys", c.keys);
        v("attention", c.attention);
        v("prompts", c.prompts);
      });
    });
  }

 private:
  // Block b's components of every task so far (with_current: up to the current task, else the
  // earlier ones only), concatenated; undefined when there are none.
  Components all(size_t b, bool with_current) const {
    if (!task_) return {};
    const size_t end =
        std::min(components_.size(), static_cast<size_t>(task_->index) + (with_current ? 1 : 0));
    if (end == 0) return {};
    std::vector<torch::Tensor> k, a, p;
    for (size_t t = 0; t < end; ++t) {
      k.push_back(components_[t][b].keys);
      a.push_back(components_[t][b].attention);
      p.push_back(components_[t][b].prompts);
    }
    return {torch::cat(k), torch::cat(a), torch::cat(p)};
  }
  // ||t t^T - I||^2 averaged over the entries (Eq. 6's term).
  static torch::Tensor ortho(const torch::Tensor& t) {
    return (torch::matmul(t, t.t()) - torch::eye(t.size(0), t.options())).pow(2).mean();
  }

  CodaPromptOptions opt_;
  std::vector<int64_t> layers_;
  int64_t per_task_ = 0;
  std::vector<std::vector<Components>> components_;  // per task, per block
};

const bool registered_coda_prompt = register_method(
    method_entry<CodaPrompt, CodaPromptOptions>(
        "coda-prompt",
        "CODA-Prompt: prompts as attention-weighted sums of per-task components (ViT)",
        {{"optimizer", "adam"}, {"lr", 0.001}, {"lr_schedule", "coda-cosine"}},
        frozen_vit_requirements())
        .tiny_settings({{"pool", 10}})
        .paper_settings(coda_paper_settings()));

}  // namespace
}  // namespace clbench
