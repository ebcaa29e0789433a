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

// V's column blocks scaled by the alphas, {mid, k * in} (or, with `sum`, their sum {mid, in}), with
// a backward of one product per gradient. Autograd's own for V * alphas multiplies through an
// expanded gradient: 10 ms a step against 2.6 ms for the matrix product it feeds (k = 4 blocks of
// 400 x 784, batch 128, one thread).
struct ScaledBlocks : torch::autograd::Function<ScaledBlocks> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& v,
                               const torch::Tensor& alphas, bool sum) {
    ctx->save_for_backward({v, alphas});
    ctx->saved_data["sum"] = sum;
    const auto blocks = v.view({v.size(0), alphas.size(0), -1});
    const auto scaled = blocks * alphas.view({1, -1, 1});
    return sum ? scaled.sum(1) : scaled.flatten(1);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &v = saved[0], &alphas = saved[1];
    const int64_t k = alphas.size(0);
    const auto blocks = v.view({v.size(0), k, -1});
    // {mid, 1, in} where every block had the same gradient (the sum), else {mid, k, in}.
    const auto g =
        ctx->saved_data["sum"].toBool() ? grads[0].unsqueeze(1) : grads[0].view({v.size(0), k, -1});
    return {(g * alphas.view({1, k, 1})).flatten(1), (g * blocks).sum(at::IntArrayRef{0, 2}),
            torch::Tensor()};
  }
};

// Avalanche MLPAdapter (Eq. 2): one learned scalar alpha per earlier column (initialised randn),
// V: Linear(in * k -> mid), ReLU, U: Linear(mid -> out). V [a_0 x_0, ..., a_{k-1} x_{k-1}] is
// computed as the same sum with the alphas on V's column blocks, [a_0 V_0, ..., a_{k-1} V_{k-1}]:
// the earlier columns are frozen, so no gradient then goes back into their outputs (a third
// product per step), and on k copies of one input it is one product with sum_j a_j V_j.
struct MlpAdapterImpl : nn::Module {
  MlpAdapterImpl(int64_t in, int64_t mid, int64_t out, int64_t earlier) {
    V = register_module("V", nn::Linear(in * earlier, mid));
    alphas = register_parameter("alphas", torch::randn({earlier}));
    U = register_module("U", nn::Linear(mid, out));
  }
  // xs: the k earlier columns' outputs.
  torch::Tensor forward(const std::vector<torch::Tensor>& xs) {
    const auto w = ScaledBlocks::apply(V->weight, alphas, false);
    return U->forward(torch::relu(torch::linear(torch::cat(xs, 1), w, V->bias)));
  }
  // The k earlier columns all read `x` (the first layer's input).
  torch::Tensor forward_on_copies(const torch::Tensor& x) {
    const auto w = ScaledBlocks::apply(V->weight, alphas, true);
    return U->forward(torch::relu(torch::linear(x, w, V->bias)));
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
    // Every column's input is the images: layer 0's laterals read k copies of `own`.
    if (!earlier.empty() && laterals_[l])
      y = y + (l == 0 ? laterals_[l]->forward_on_copies(own) : laterals_[l]->forward(earlier));
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
