// DualPrompt (Wang et al., ECCV 2022, Sec. 4): a G(eneral)-prompt shared by all tasks prefixes
// blocks 0-1; E(xpert)-prompts, one per task with a learnable key, prefix blocks 2-4. Training uses
// the true task's E-prompt and pulls its key toward the query (Eq. 4's matching loss, the sum over
// the batch of 1 - cos); at test each image takes the E-prompt of its top-1 key, so no task id is
// needed. Defaults: CODA-Prompt's implementation (GT-RIPL/CODA-Prompt models/zoo.py DualPrompt,
// `--prompt_param 10 20 6`), whose numbers the SD-LoRA, InfLoRA and CODA-Prompt tables report:
// pool 10, E length 20 and G length 6, each split into key and value halves; every prefixed block
// has its own prompts and keys (the official JAX code shares one key set and keeps full-length
// keys and values); prompts and keys U[0, 1); Adam lr 1e-3 with CODA's cosine schedule.
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "methods/prompts/prompt_method.h"

namespace clbench {
namespace {

struct DualPromptOptions {
  TORCH_ARG(int64_t, pool) = 10;
  TORCH_ARG(int64_t, e_length) = 20;
  TORCH_ARG(int64_t, g_length) = 6;
  TORCH_ARG(std::vector<int64_t>, g_layers) = {0, 1};
  TORCH_ARG(std::vector<int64_t>, e_layers) = {2, 3, 4};

 public:
  template <class V>
  void visit(V& v) {
    v("pool", pool_, "E-prompts with keys (CODA-Prompt: 10); at least the stream's tasks",
      {1, 100000});
    v("e_length", e_length_, "tokens per E-prompt, half keys and half values (CODA-Prompt: 20)",
      {2, 100000});
    v("g_length", g_length_, "tokens of the G-prompt, half keys and half values (CODA-Prompt: 6)",
      {2, 100000});
    v("g_layers", g_layers_, "blocks the G-prompt prefixes (those the ViT has)",
      integers().distinct(), {0, 1000});
    v("e_layers", e_layers_, "blocks the E-prompts prefix (those the ViT has)",
      integers().distinct(), {0, 1000});
  }
  void check(const std::string& prefix) const {
    check_prefix_length(prefix, "e_length", e_length_);
    check_prefix_length(prefix, "g_length", g_length_);
  }
};

class DualPrompt : public PromptMethod {
 public:
  explicit DualPrompt(DualPromptOptions o) : opt_(std::move(o)) {}

  void init_prompts() override {
    g_layers_ = blocks_of(opt_.g_layers());
    e_layers_ = blocks_of(opt_.e_layers());
    const auto tasks = static_cast<int64_t>(ctx_.stream->tasks.size());
    if (tasks > opt_.pool()) {
      throw Error("dualprompt: key 'dualprompt.pool' = " + std::to_string(opt_.pool()) +
                  " gives fewer E-prompts than the stream's " + std::to_string(tasks) +
                  " tasks (one per task)");
    }
    for (size_t i = 0; i < g_layers_.size(); ++i)
      g_prompts_.push_back(
          uniform_prompt({opt_.g_length(), dim()}, 0.0, 1.0, generator(), options()));
    e_prompts_.resize(e_layers_.size());
    e_keys_.resize(e_layers_.size());
    for (size_t i = 0; i < e_layers_.size(); ++i) {
      for (int64_t m = 0; m < opt_.pool(); ++m) {
        e_prompts_[i].push_back(
            uniform_prompt({opt_.e_length(), dim()}, 0.0, 1.0, generator(), options()));
        e_keys_[i].push_back(uniform_prompt({dim()}, 0.0, 1.0, generator(), options()));
      }
    }
  }

  Prompts select(const Batch& batch, bool training) override {
    const auto query = this->query(batch);
    Prompts p;
    const int64_t B = query.size(0);
    p.prefixes.resize(depth());
    for (size_t i = 0; i < e_layers_.size(); ++i) {
      torch::Tensor chosen;  // {B, L_e, D}
      if (training) {        // the true task's E-prompt, its key pulled to the query
        const int64_t t = task_->index;
        const auto similarity =
            cosine_matrix(query, e_keys_[i][static_cast<size_t>(t)].unsqueeze(0));
        const auto pull = batch.sum(1.0 - similarity);
        p.loss = p.loss.defined() ? p.loss + pull : pull;
        chosen = e_prompts_[i][static_cast<size_t>(t)].unsqueeze(0).expand({B, -1, -1});
      } else {  // the top-1 key's
        const auto ids = cosine_matrix(query, torch::stack(e_keys_[i])).argmax(1);
        chosen = torch::stack(e_prompts_[i]).index_select(0, ids);
      }
      p.prefixes[static_cast<size_t>(e_layers_[i])] = split_prefix(chosen);
    }
    for (size_t i = 0; i < g_layers_.size(); ++i) {
      auto g = split_prefix(g_prompts_[i].unsqueeze(0).expand({B, -1, -1}));
      auto& prefix = p.prefixes[static_cast<size_t>(g_layers_[i])];
      if (prefix.defined()) {  // E before G, as CODA-Prompt's code concatenates them
        g.keys = torch::cat({prefix.keys, g.keys}, 1);
        g.values = torch::cat({prefix.values, g.values}, 1);
      }
      prefix = g;
    }
    return p;
  }

  std::vector<torch::Tensor> prompt_parameters() override {
    auto params = g_prompts_;
    for (size_t i = 0; i < e_prompts_.size(); ++i) {
      params.push_back(e_prompts_[i][static_cast<size_t>(task_->index)]);
      params.push_back(e_keys_[i][static_cast<size_t>(task_->index)]);
    }
    return params;
  }
  // Every E-prompt and key: the test's top-1 choice looks at the whole pool.
  std::vector<torch::Tensor> stored_prompts() const override {
    auto out = g_prompts_;
    for (size_t i = 0; i < e_prompts_.size(); ++i) {
      out.insert(out.end(), e_prompts_[i].begin(), e_prompts_[i].end());
      out.insert(out.end(), e_keys_[i].begin(), e_keys_[i].end());
    }
    return out;
  }

  void state(StateVisitor& v) override {
    v("dualprompt.g", g_prompts_);
    for (size_t i = 0; i < e_prompts_.size(); ++i) {
      v("dualprompt.e." + std::to_string(i), e_prompts_[i]);
      v("dualprompt.keys." + std::to_string(i), e_keys_[i]);
    }
  }

 private:
  DualPromptOptions opt_;
  std::vector<int64_t> g_layers_, e_layers_;
  std::vector<torch::Tensor> g_prompts_;  // per G block: {L_g, D}
  std::vector<std::vector<torch::Tensor>> e_prompts_,
      e_keys_;  // per E block, per task: {L_e, D}, {D}
};

const bool registered_dualprompt = register_method(
    method_entry<DualPrompt, DualPromptOptions>(
        "dualprompt",
        "DualPrompt: a shared G-prompt and per-task E-prompts chosen by key, as prefixes (ViT)",
        {{"optimizer", "adam"}, {"lr", 0.001}, {"lr_schedule", "coda-cosine"}},
        frozen_vit_requirements())
        .paper_settings(coda_paper_settings()));

}  // namespace
}  // namespace clbench
