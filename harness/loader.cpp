#include "harness/loader.h"

#include <random>

#include <torch/torch.h>

#include "harness/comm.h"

namespace clbench {

uint64_t mix_seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (uint64_t p : parts) {
    uint64_t z = h + p + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    h = z ^ (z >> 31);
  }
  return h;
}

std::vector<int64_t> shuffled(std::vector<int64_t> values, uint64_t seed) {
  std::mt19937_64 g(seed);
  for (size_t i = values.size(); i > 1; --i) {
    const uint64_t n = i;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do {
      r = g();
    } while (r >= limit);
    std::swap(values[i - 1], values[r % n]);
  }
  return values;
}

std::vector<int64_t> shard(const std::vector<int64_t>& global, int rank, int size) {
  const size_t n = global.size();
  const size_t base = n / static_cast<size_t>(size);
  const size_t extra = n % static_cast<size_t>(size);
  const size_t r = static_cast<size_t>(rank);
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
                 int shard_index, int shards, const torch::Device& device,
                 std::optional<uint64_t> augment_seed) {
  Batch b =
      load_batch(stream, data, shard(global, shard_index, shards),
                 static_cast<int64_t>(global.size()), shards, shard_index, augment_seed, device);
  b.y = b.y.to(device);
  return b;
}

void for_each_batch(const TaskStream& stream, const Dataset& data,
                    const std::vector<int64_t>& indices, int64_t batch_size,
                    const Communicator& comm, const torch::Device& device,
                    const std::function<void(const Batch&)>& fn) {
  for_each_global_batch(indices, batch_size, [&](const std::vector<int64_t>& global) {
    fn(load_shard(stream, data, global, comm.rank(), comm.size(), device));
  });
}

}  // namespace clbench
