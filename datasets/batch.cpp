#include "datasets/batch.h"

#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"

namespace clbench {

torch::Tensor Batch::mean(const torch::Tensor& per_sample) const {
  return per_sample.sum() * (static_cast<double>(shards) / static_cast<double>(global_size));
}

torch::Tensor Batch::sum(const torch::Tensor& per_sample) const {
  return per_sample.sum() * static_cast<double>(shards);
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

namespace {

// The host tensors on `device`. On a GPU they leave pinned memory on a side stream of the
// calling thread, which waits for its own copies, so the training thread's stream (the device's
// default one) never waits for one; the copies are marked as used on that stream for the caching
// allocator.
std::vector<torch::Tensor> copied_to(const torch::Device& device,
                                     const std::vector<torch::Tensor>& host) {
  std::vector<torch::Tensor> out;
  if (!device.is_cuda()) {
    for (const auto& t : host) out.push_back(t.to(device));
    return out;
  }
  const c10::impl::VirtualGuardImpl impl(device.type());
  const c10::Stream compute = impl.getDefaultStream(device);
  const c10::Stream side = impl.getStreamFromGlobalPool(device, /*isHighPriority=*/false);
  {
    const c10::StreamGuard guard(side);
    for (const auto& t : host) out.push_back(t.pin_memory().to(device, /*non_blocking=*/true));
    side.synchronize();
  }
  for (auto& t : out) t.record_stream(compute);
  return out;
}

}  // namespace

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
  const auto on_device = copied_to(device, {b.x, torch::tensor(labels, torch::kLong)});
  b.x = data.model_input(on_device[0]);
  b.y = on_device[1];
  b.indices = indices;
  b.data = &data;
  b.augment_seed = augment_seed;
  b.global_size = global_size;
  b.shards = shards;
  b.shard = shard;
  return b;
}

}  // namespace clbench
