// Sequential LoRA: one LoRA (Hu et al. 2022, Eq. 3) on a frozen ViT, trained on every task in turn
// with no protection; the parameter-efficient counterpart of fine-tuning (SD-LoRA Table 4, "single
// decoupled LoRA" is its closest published number).
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "methods/adapters/adapter_method.h"

namespace clbench {
namespace {

struct SeqLoraOptions {
  TORCH_ARG(int64_t, rank) = 10;
  TORCH_ARG(std::vector<std::string>, parts) = {"q", "v"};

 public:
  template <class V>
  void visit(V& v) {
    v("rank", rank_, "rank r of the one B A", {1, 4096});
    v("parts", parts_, "which slices of the fused qkv are adapted", qkv_parts_spec());
  }
};

class SeqLora : public AdapterMethod {
 public:
  explicit SeqLora(SeqLoraOptions o) : opt_(std::move(o)), parts_(qkv_parts(opt_.parts())) {}

  void init_adapters() override {
    for_each_linear([&](size_t, QkvPart, LoraLinear& linear) {
      linear.updates.push_back(to_device(
          make_lora_update(linear.out_features(), linear.in_features(), opt_.rank(), generator())));
    });
  }

  std::vector<torch::Tensor> adapter_parameters() override {
    std::vector<torch::Tensor> params;
    for_each_linear([&](size_t, QkvPart, LoraLinear& linear) {
      for (auto& u : linear.updates)
        params.insert(params.end(), u.factors.begin(), u.factors.end());
    });
    return params;
  }

  void state(StateVisitor& v) override { visit_updates(v); }

 protected:
  std::vector<QkvPart> adapted_parts() const override { return parts_; }

 private:
  SeqLoraOptions opt_;
  std::vector<QkvPart> parts_;
};

const bool registered_seq_lora = register_method(method_entry<SeqLora, SeqLoraOptions>(
    "seq-lora", "one LoRA on a frozen ViT trained through all tasks (baseline)",
    sd_lora_optimizer(), frozen_vit_requirements()));

}  // namespace
}  // namespace clbench
