// L2P (Wang et al., CVPR 2022, Sec. 4): a pool of M prompts of L_p tokens with learnable keys. Each
// image selects the N keys nearest its query by cosine (Eq. 3) and prepends their prompts to its
// input tokens (prompt-tuning); the head reads the mean of those tokens' outputs; the surrogate
// loss (Eq. 5) pulls the selected keys toward the query. Defaults: the official JAX code
// (google-research/l2p) at the paper's settings, as its first commit's configs set them (M 10,
// L_p 5, N 5, pull 0.1; prompts and keys U[0, 0.01) as flax's uniform(); Adam lr 0.03, constant;
// train_mask on). Its later configs use L_p 10, N 4, pull 1.0: keys.
// Where clbench differs, and why: batchwise_prompt is off by default and, when on, votes within
// each training shard only: at test the official code votes over the test batch, which makes an
// image's prediction depend on the other images of its batch. The official trainer's gradient
// clipping (norm 1.0) is not applied.
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "methods/prompts/prompt_method.h"

namespace clbench {
namespace {

struct L2pOptions {
  TORCH_ARG(int64_t, pool) = 10;
  TORCH_ARG(int64_t, length) = 5;
  TORCH_ARG(int64_t, top_k) = 5;
  TORCH_ARG(double, pull) = 0.1;
  TORCH_ARG(bool, batchwise_prompt) = false;
  TORCH_ARG(bool, train_mask) = true;

 public:
  template <class V>
  void visit(V& v) {
    v("pool", pool_, "prompts in the pool, M (paper 10)", {1, 100000});
    v("length", length_, "tokens per prompt, L_p (paper 5; later official configs 10)",
      {1, 100000});
    v("top_k", top_k_, "prompts each image selects, N (paper 5; later official configs 4)",
      {1, 100000});
    v("pull", pull_,
      "coefficient of the surrogate loss pulling the selected keys to the query (first official "
      "config 0.1, later 1.0; paper 0.5)",
      {0, 1e6});
    v("batchwise_prompt", batchwise_prompt_,
      "every image of a training shard takes the N prompts its images chose most often (official "
      "configs: on, at test too)");
    v("train_mask", train_mask_,
      "the loss sees the current task's classes only (false: every class seen so far)");
  }
  void check(const std::string& prefix) const { check_top_k(prefix, top_k_, pool_); }
};

class L2p : public PromptMethod {
 public:
  explicit L2p(L2pOptions o) : opt_(std::move(o)) {}

  void init_prompts() override {
    prompts_ =
        uniform_prompt({opt_.pool(), opt_.length(), dim()}, 0.0, 0.01, generator(), options());
    keys_ = uniform_prompt({opt_.pool(), dim()}, 0.0, 0.01, generator(), options());
  }

  Prompts select(const Batch& batch, bool training) override {
    const auto query = this->query(batch);
    const auto similarity = cosine_matrix(query, keys_);  // {B, M}, Eq. 3's gamma as a cosine
    auto ids = std::get<1>(similarity.topk(opt_.top_k(), 1));
    if (training && opt_.batchwise_prompt() && ids.size(0) > 0)
      ids = majority_vote(ids, opt_.pool());
    Prompts p;
    const int64_t B = query.size(0);
    p.tokens = prompts_.index_select(0, ids.flatten()).reshape({B, -1, dim()});
    if (training) p.loss = -opt_.pull() * batch.mean(similarity.gather(1, ids).sum(1));  // Eq. 5
    return p;
  }

  torch::Tensor classifier_loss(const torch::Tensor& logits, const Batch& batch) const override {
    return opt_.train_mask() ? current_task_loss(logits, batch)
                             : classification_loss(logits, batch);
  }

  std::vector<torch::Tensor> prompt_parameters() override { return {prompts_, keys_}; }
  std::vector<torch::Tensor> stored_prompts() const override { return {prompts_, keys_}; }
  Readout readout() const override { return Readout::kPromptMean; }

  void state(StateVisitor& v) override {
    v("l2p.prompts", prompts_);
    v("l2p.keys", keys_);
  }

 private:
  L2pOptions opt_;
  torch::Tensor prompts_, keys_;  // {M, L_p, D}, {M, D}
};

const bool registered_l2p = register_method(
    method_entry<L2p, L2pOptions>(
        "l2p", "L2P: a prompt pool with learnable keys, top-N prompts prepended to the input (ViT)",
        {{"optimizer", "adam"}, {"lr", 0.03}}, frozen_vit_requirements())
        // google-research/l2p configs/cifar100_l2p.py: 5 epochs, 16 per device x 8, constant lr.
        .paper_settings({{"cifar100-10",
                          {{"epochs", 5},
                           {"batch_size", 128},
                           {"optimizer", "adam"},
                           {"lr", 0.03},
                           {"lr_schedule", "constant"}}}}));

}  // namespace
}  // namespace clbench
