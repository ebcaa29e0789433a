#pragma once
// The columns of progressive neural networks (Rusu et al. 2016; the method is methods/pnn.cpp) on
// the two backbone kinds they are written for:
//   mlp:    Avalanche's PNNLayer / MLPAdapter (methods/pnn_mlp.cpp);
//   resnet: Mammoth's ResNet18_PNN adaptors between stages (methods/pnn_resnet.cpp).
// Column k is a trunk (a fresh copy of the run's backbone) plus what the column adds to it: a
// lateral adapter from columns 0..k-1 into each of its layers, its task's head, and optionally
// laterals into the head. Layer l of column k reads its own layer l-1 and the layer l-1 outputs of
// every earlier column (for l = 0 all of them read the input).
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "harness/models/backbone.h"

namespace clbench {

struct PnnColumnOptions {
  int64_t earlier = 0;  // columns before this one: its laterals read each of them
  int64_t classes = 0;  // its task's classes (the head's outputs)
  // mlp: laterals from the input into the first layer (Avalanche: yes; the paper, Mammoth: no).
  bool input_laterals = true;
  // Laterals into the head; unset: the reference of the backbone kind (mlp: Avalanche, none;
  // resnet: Mammoth's lateral classifier).
  std::optional<bool> head_laterals;
  std::vector<int64_t> input_shape;  // {C, H, W} of the stream's images
};

class PnnColumnImpl : public torch::nn::Module {
 public:
  explicit PnnColumnImpl(std::shared_ptr<BackboneImpl> trunk) : trunk_(std::move(trunk)) {}

  // The trunk is held, not registered: column 0's is the run's model's backbone (saved with the
  // model); the column's registered modules are only what it adds (laterals, head).
  BackboneImpl& trunk() { return *trunk_; }
  // The trunk's parameters and the column's own: what the column trains, and then keeps.
  std::vector<torch::Tensor> all_parameters();
  void set_training(bool on);

  virtual size_t depth() const = 0;  // layers whose outputs the later columns read
  virtual torch::Tensor input(const torch::Tensor& images) = 0;  // what layer 0 reads
  // Layer l on `own` (this column's layer l-1 output; input() for l = 0) with laterals from
  // `earlier` (the earlier columns' layer l-1 outputs, or the input for l = 0, one per column;
  // empty: no laterals, the trunk alone).
  virtual torch::Tensor layer(size_t l, const torch::Tensor& own,
                              const std::vector<torch::Tensor>& earlier) = 0;
  // The task's logits from the last layer's outputs (the same convention for `earlier`).
  virtual torch::Tensor head(const torch::Tensor& own,
                             const std::vector<torch::Tensor>& earlier) = 0;

 private:
  std::shared_ptr<BackboneImpl> trunk_;
};

// The column for `trunk`, which must be an Mlp or a ResNet (otherwise an Error names the kinds).
// Its own modules are made on the CPU with the default generator; the caller moves them.
std::shared_ptr<PnnColumnImpl> make_pnn_column(std::shared_ptr<BackboneImpl> trunk,
                                               const PnnColumnOptions& options);
// The same for one kind: null when `trunk` is not of it.
std::shared_ptr<PnnColumnImpl> make_pnn_mlp_column(std::shared_ptr<BackboneImpl> trunk,
                                                   const PnnColumnOptions& options);
std::shared_ptr<PnnColumnImpl> make_pnn_resnet_column(std::shared_ptr<BackboneImpl> trunk,
                                                      const PnnColumnOptions& options);

}  // namespace clbench
