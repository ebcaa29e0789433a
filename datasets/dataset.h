#pragma once
// Random access to labelled images. Readers (IDX, CIFAR, folders, HDF5 cache) implement Dataset;
// the task stream and the loader never care where the pixels come from.
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

namespace clbench {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t index) const = 0;        // the dataset's own label id
  virtual std::vector<int64_t> image_shape() const = 0;  // {C, H, W}
  // What tells this sample apart from every other, as a hash: its pixels for data in memory, its
  // name for files (the path below the data root; CIFAR's split and index), its index for
  // generated images. Ranks compare it (the data digest, datasets/task_stream.h).
  virtual uint64_t sample_identity(int64_t index) const = 0;
  // Pixels {B, C, H, W} for the given indices, in order: the evaluation view. Float, or uint8
  // that model_input turns into the model's input where the model runs (4x less to load and move).
  virtual torch::Tensor images(const std::vector<int64_t>& indices) const = 0;
  // The training view: random augmentation drawn from one seed per sample (the same seed gives
  // the same image on any rank and thread). Datasets without augmentation return images().
  virtual torch::Tensor augmented(const std::vector<int64_t>& indices,
                                  const std::vector<uint64_t>& seeds) const;
  // Whether augmented() may differ from images() (a frozen network's outputs on the training view
  // can then not be computed once per sample).
  virtual bool augments() const { return false; }
  // The model's input from pixels of images()/augmented(), on their device: floats unchanged,
  // uint8 scaled to [0, 1] as contiguous floats {B, C, H, W}.
  virtual torch::Tensor model_input(const torch::Tensor& pixels) const;
};

// Everything in memory: uint8 images {N, C, H, W} and labels {N}.
class TensorDataset : public Dataset {
 public:
  TensorDataset(torch::Tensor images_u8, std::vector<int64_t> labels);
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t label(int64_t index) const override { return labels_.at(static_cast<size_t>(index)); }
  std::vector<int64_t> image_shape() const override;
  torch::Tensor images(const std::vector<int64_t>& indices) const override;
  uint64_t sample_identity(int64_t index) const override;  // its pixels

 private:
  torch::Tensor images_;  // uint8 {N, C, H, W}
  std::vector<int64_t> labels_;
};

}  // namespace clbench
