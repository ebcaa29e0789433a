// L2P++ (Smith et al., CVPR 2023, Sec. 5; the L2P of GT-RIPL/CODA-Prompt models/zoo.py): L2P's
// pool and top-N selection by cosine between the query and learnable keys, with prefix-tuning
// instead of prompt-tuning: the N selected prompts, each split into key and value halves, are
// prepended to block 0's keys and values (`deep`: blocks 0-4, "Deep L2P++", each block with its
// own pool and keys). The head reads the class token; the key loss is the sum over the batch of
// 1 - cos(query, key) over the selected keys, per block. Defaults: CODA-Prompt's
// (`--prompt_param 30 20 -1`: pool 30, length 20, N 5; prompts and keys U[0, 1); Adam lr 1e-3
// with its cosine schedule).
// The official code indexes the similarity matrix with the whole batch's choices (cos_sim[:,
// k_idx]), so its pull sums over every query-key pair of a batch; here each query pulls its own
// keys (L2P Eq. 5), which does not couple the samples of a batch cut over ranks.
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "methods/prompts/prompt_method.h"

namespace clbench {
namespace {

struct L2pPlusPlusOptions {
  TORCH_ARG(int64_t, pool) = 30;
  TORCH_ARG(int64_t, length) = 20;
  TORCH_ARG(int64_t, top_k) = 5;
  TORCH_ARG(bool, deep) = false;

 public:
  template <class V>
  void visit(V& v) {
    v("pool", pool_, "prompts in each block's pool (CODA-Prompt: 30)", {1, 100000});
    v("length", length_, "tokens per prompt, half keys and half values (CODA-Prompt: 20)",
      {2, 100000});
    v("top_k", top_k_, "prompts each image selects (CODA-Prompt: 5)", {1, 100000});
    v("deep", deep_, "prefix blocks 0-4 (Deep L2P++; those the ViT has) instead of block 0 only");
  }
  void check(const std::string& prefix) const {
    check_top_k(prefix, top_k_, pool_);
    check_prefix_length(prefix, "length", length_);
  }
};

class L2pPlusPlus : public PromptMethod {
 public:
  explicit L2pPlusPlus(L2pPlusPlusOptions o) : opt_(std::move(o)) {}

  void init_prompts() override {
    const auto blocks =
        blocks_of(opt_.deep() ? std::vector<int64_t>{0, 1, 2, 3, 4} : std::vector<int64_t>{0});
    for (size_t b = 0; b < blocks.size(); ++b) {
      prompts_.push_back(
          uniform_prompt({opt_.pool(), opt_.length(), dim()}, 0.0, 1.0, generator(), options()));
      keys_.push_back(uniform_prompt({opt_.pool(), dim()}, 0.0, 1.0, generator(), options()));
    }
  }

  Prompts select(const Batch& batch, bool training) override {
    const auto query = this->query(batch);
    Prompts p;
    const int64_t B = query.size(0);
    for (size_t b = 0; b < prompts_.size(); ++b) {
      const auto similarity = cosine_matrix(query, keys_[b]);
      const auto ids = std::get<1>(similarity.topk(opt_.top_k(), 1));  // {B, N}
      p.prefixes.push_back(split_prefix(prompts_[b]
                                            .index_select(0, ids.flatten())
                                            .reshape({B, opt_.top_k(), opt_.length(), dim()})));
      if (training) {
        const auto pull = batch.sum((1.0 - similarity.gather(1, ids)).sum(1));
        p.loss = p.loss.defined() ? p.loss + pull : pull;
      }
    }
    return p;
  }

  std::vector<torch::Tensor> prompt_parameters() override { return stored_prompts(); }
  std::vector<torch::Tensor> stored_prompts() const override {
    auto out = prompts_;
    out.insert(out.end(), keys_.begin(), keys_.end());
    return out;
  }

  void state(StateVisitor& v) override {
    v("l2p++.prompts", prompts_);
    v("l2p++.keys", keys_);
  }

 private:
  L2pPlusPlusOptions opt_;
  std::vector<torch::Tensor> prompts_, keys_;  // per prefixed block: {M, L, D}, {M, D}
};

const bool registered_l2p_plus_plus = register_method(
    method_entry<L2pPlusPlus, L2pPlusPlusOptions>(
        "l2p++",
        "L2P++: L2P's keyed prompt pool as prefixes of block 0 (CODA-Prompt's variant, ViT)",
        {{"optimizer", "adam"}, {"lr", 0.001}, {"lr_schedule", "coda-cosine"}},
        frozen_vit_requirements())
        .paper_settings(coda_paper_settings()));

}  // namespace
}  // namespace clbench
