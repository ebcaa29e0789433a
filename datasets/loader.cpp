#include "datasets/loader.h"

#include <torch/torch.h>

namespace clbench {

std::vector<int64_t> shard(const std::vector<int64_t>& global, int index, int parts) {
  const size_t n = global.size();
  const size_t base = n / static_cast<size_t>(parts);
  const size_t extra = n % static_cast<size_t>(parts);
  const size_t r = static_cast<size_t>(index);
  const size_t begin = r * base + std::min(r, extra);
  const size_t count = base + (r < extra ? 1 : 0);
  return {global.begin() + static_cast<std::ptrdiff_t>(begin),
          global.begin() + static_cast<std::ptrdiff_t>(begin + count)};
}

void for_each_global_batch(const std::vector<int64_t>& indices, int64_t batch_size,
                           const std::function<void(const std::vector<int64_t>&)>& fn) {
  const size_t B = static_cast<size_t>(batch_size);
  for (size_t begin = 0; begin < indices.size(); begin += B) {
    const size_t end = std::min(indices.size(), begin + B);
    fn({indices.begin() + static_cast<std::ptrdiff_t>(begin),
        indices.begin() + static_cast<std::ptrdiff_t>(end)});
  }
}

Batch load_shard(const TaskStream& stream, const Dataset& data, const std::vector<int64_t>& global,
                 int index, int shards, const torch::Device& device,
                 std::optional<uint64_t> augment_seed) {
  return load_batch(stream, data, shard(global, index, shards), static_cast<int64_t>(global.size()),
                    shards, index, augment_seed, device);
}

}  // namespace clbench
