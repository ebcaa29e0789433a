// Progressive-network columns on the MLP backbone, as Avalanche's avalanche/models/pnn.py: each
// Linear + ReLU of the trunk is a PNNLayer whose lateral is an MLPAdapter (Rusu et al. 2016,
// Sec. 2, Eq. 2, the "non-linear lateral connections"):
//   h_l^(k) = ReLU(W_l^(k) h_{l-1}^(k) + U_l^(k) ReLU(V_l^(k) [a_0 h_{l-1}^(0), ..., a_{k-1}
//   h_{l-1}^(k-1)]))
// and each task's head reads its own column's last layer (Avalanche's MultiHeadClassifier).
#include <string>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/models/mlp.h"
#include "methods/pnn_columns.h"

namespace clbench {
namespace {

namespace nn = torch::nn;

// Avalanche MLPAdapter (Eq. 2): one learned scalar alpha per earlier column (initialised randn),
// V: Linear(in * k -> mid), ReLU, U: Linear(mid -> out).
struct MlpAdapterImpl : nn::Module {
  MlpAdapterImpl(int64_t in, int64_t mid, int64_t out, int64_t earlier) {
    V = register_module("V", nn::Linear(in * earlier, mid));
    alphas = register_parameter("alphas", torch::randn({earlier}));
    U = register_module("U", nn::Linear(mid, out));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& xs) {
    std::vector<torch::Tensor> scaled;
    for (size_t j = 0; j < xs.size(); ++j)
      scaled.push_back(alphas[static_cast<int64_t>(j)] * xs[j]);
    return U->forward(torch::relu(V->forward(torch::cat(scaled, 1))));
  }
  nn::Linear V{nullptr}, U{nullptr};
  torch::Tensor alphas;
};
TORCH_MODULE(MlpAdapter);

class MlpColumnImpl : public PnnColumnImpl {
 public:
  MlpColumnImpl(std::shared_ptr<MlpImpl> mlp, const PnnColumnOptions& o)
      : PnnColumnImpl(mlp), mlp_(std::move(mlp)) {
    const int64_t hidden = mlp_->options.hidden(), k = o.earlier;
    if (mlp_->options.layers() < 1) throw Error("pnn needs an MLP with at least one layer");
    for (int64_t l = 0; l < mlp_->options.layers(); ++l) {
      linears_.push_back(mlp_->body->ptr<nn::LinearImpl>(static_cast<size_t>(2 * l)));
      MlpAdapter lateral{nullptr};
      // Avalanche's first PNNLayer has an MLP adapter on copies of the input too (the paper and
      // Mammoth's MNISTMLP_PNN have none there: pnn.input_laterals=false).
      if (k > 0 && (l > 0 || o.input_laterals)) {
        const int64_t in = l == 0 ? mlp_->options.in_features() : hidden;
        lateral = register_module("lateral" + std::to_string(l), MlpAdapter(in, hidden, hidden, k));
      }
      laterals_.push_back(lateral);
    }
    head_ = register_module("head", nn::Linear(hidden, o.classes));
    // Avalanche's heads have no laterals; with pnn.head_laterals=on the head gets one as Mammoth's
    // MNISTMLP_PNN adaptor2 (V to the hidden width, U to the classes), in Avalanche's form.
    if (k > 0 && o.head_laterals.value_or(false)) {
      head_lateral_ = register_module("head_lateral", MlpAdapter(hidden, hidden, o.classes, k));
    }
  }

  size_t depth() const override { return linears_.size(); }
  torch::Tensor input(const torch::Tensor& images) override { return mlp_->layers_input(images); }

  torch::Tensor layer(size_t l, const torch::Tensor& own,
                      const std::vector<torch::Tensor>& earlier) override {
    auto y = linears_[l]->forward(own);
    if (!earlier.empty() && laterals_[l]) y = y + laterals_[l]->forward(earlier);
    return torch::relu(y);  // Avalanche PNN.forward_single_task: ReLU after every layer
  }

  torch::Tensor head(const torch::Tensor& own, const std::vector<torch::Tensor>& earlier) override {
    auto logits = head_->forward(own);
    if (!earlier.empty() && head_lateral_) logits = logits + head_lateral_->forward(earlier);
    return logits;
  }

 private:
  std::shared_ptr<MlpImpl> mlp_;
  std::vector<std::shared_ptr<nn::LinearImpl>> linears_;  // the trunk's, W_l^(k)
  std::vector<MlpAdapter> laterals_;                      // null where a layer has none
  nn::Linear head_{nullptr};
  MlpAdapter head_lateral_{nullptr};
};

}  // namespace

std::shared_ptr<PnnColumnImpl> make_pnn_mlp_column(std::shared_ptr<BackboneImpl> trunk,
                                                   const PnnColumnOptions& options) {
  auto mlp = std::dynamic_pointer_cast<MlpImpl>(trunk);
  if (!mlp) return nullptr;
  return std::make_shared<MlpColumnImpl>(std::move(mlp), options);
}

}  // namespace clbench
