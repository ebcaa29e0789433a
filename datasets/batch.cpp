#include "datasets/batch.h"

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"

namespace clbench {

torch::Tensor Batch::mean(const torch::Tensor& per_sample) const {
  return per_sample.sum() * (static_cast<double>(shards) / static_cast<double>(global_size));
}

torch::Tensor Batch::unaugmented() const {
  if (data == nullptr) throw Error("internal: this batch does not know its dataset");
  return data->model_input(data->images(indices).to(x.device()));
}

Batch Batch::concat(const Batch& a, const Batch& b) {
  if (a.data != b.data || a.shards != b.shards || a.shard != b.shard) {
    throw Error("internal: batches of different data or shards cannot be concatenated");
  }
  Batch joint = a;
  joint.x = torch::cat({a.x, b.x});
  joint.y = torch::cat({a.y, b.y});
  joint.indices.insert(joint.indices.end(), b.indices.begin(), b.indices.end());
  joint.global_size = a.global_size + b.global_size;
  return joint;
}

Batch load_batch(const TaskStream& stream, const Dataset& data, const std::vector<int64_t>& indices,
                 int64_t global_size, int shards, int shard, std::optional<uint64_t> augment_seed,
                 const torch::Device& device) {
  std::vector<int64_t> labels(indices.size());
  for (size_t i = 0; i < indices.size(); ++i)
    labels[i] = stream.to_internal[data.label(indices[i])];
  Batch b;
  if (augment_seed) {
    std::vector<uint64_t> seeds;
    for (int64_t i : indices) seeds.push_back(mix_seed({*augment_seed, static_cast<uint64_t>(i)}));
    b.x = data.augmented(indices, seeds);
  } else {
    b.x = data.images(indices);
  }
  b.x = data.model_input(b.x.to(device));
  b.y = torch::tensor(labels, torch::kLong).to(device);
  b.indices = indices;
  b.data = &data;
  b.augment_seed = augment_seed;
  b.global_size = global_size;
  b.shards = shards;
  b.shard = shard;
  return b;
}

}  // namespace clbench
