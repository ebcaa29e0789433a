// SimpleCIL (Zhou, Cai, Ye, Zhan, Liu, "Revisiting Class-Incremental Learning with Pre-Trained
// Models: Generalizability and Adaptivity are All You Need", IJCV 2024, Sec. 4.1; as
// LAMDA-CL/LAMDA-PILOT models/simplecil.py runs it): the frozen pretrained ViT and a cosine
// classifier whose row of each class is its prototype, the mean feature of the class's
// un-augmented training images, set at the end of the class's task. Nothing is trained.
#include <torch/torch.h>

#include "methods/frozen_vit.h"
#include "methods/prototypes/cosine_classifier.h"

namespace clbench {
namespace {

class SimpleCil : public Method {
 public:
  explicit SimpleCil(NoOptions) {}

  std::vector<int64_t> train_indices(const Task&) const override { return {}; }
  std::vector<torch::Tensor> trainable_parameters() override { return {}; }
  std::vector<ParamGroup> parameter_groups() override { return {}; }

  void end_task(const Task& task) override {
    const auto means = task_class_means(services(), task, vit_->feature_dim(),
                                        [&](const Batch& b) { return vit_->forward(b.x); });
    torch::NoGradGuard no_grad;
    classifier_->weight.narrow(0, task.class_begin, means.size(0)).copy_(means);
  }

  torch::Tensor logits(const Batch& batch) override {
    return classifier_->forward(vit_->forward(batch.x));
  }

  // The prototypes of the classes seen so far.
  int64_t stored_parameters() const override { return seen_classes_ * vit_->feature_dim(); }

  void state(StateVisitor& v) override { v("simplecil.classifier", *classifier_); }

 protected:
  void on_attach() override {
    vit_ = frozen_vit(ctx_.model, "classifies with prototypes of the features of");
    auto gen = make_generator(run().seed, 3);
    classifier_ = CosineClassifier(ctx_.stream->num_classes(), vit_->feature_dim(), gen);
    freeze(*classifier_);
    classifier_->to(run().device);
  }

 private:
  std::shared_ptr<VitImpl> vit_;
  CosineClassifier classifier_{nullptr};
};

const bool registered_simplecil = register_method(method_entry<SimpleCil>(
    "simplecil",
    "SimpleCIL: the frozen pretrained ViT with class-mean prototypes as a cosine classifier",
    nlohmann::json::object(), frozen_vit_requirements()));

}  // namespace
}  // namespace clbench
