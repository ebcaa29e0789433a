#pragma once
// Deterministic batching: one global order of samples per (seed, task, epoch), the same on every
// rank; each rank loads only its contiguous shard of every global batch.
#include <cstdint>
#include <functional>
#include <vector>

#include "harness/scenario.h"

namespace clbench {

class Communicator;

// splitmix64 of the inputs: independent, reproducible seeds for every (seed, task, epoch, ...).
uint64_t mix_seed(std::initializer_list<uint64_t> parts);
// Fisher-Yates with an mt19937_64 and exact rejection sampling (no libstdc++-specific shuffle).
std::vector<int64_t> shuffled(std::vector<int64_t> values, uint64_t seed);
// Rank `rank` of `size`'s contiguous share of a global batch (the first n % size ranks get one
// more).
std::vector<int64_t> shard(const std::vector<int64_t>& global, int rank, int size);

// Calls fn(global) for each global batch of `indices` (in the given order).
void for_each_global_batch(const std::vector<int64_t>& indices, int64_t batch_size,
                           const std::function<void(const std::vector<int64_t>&)>& fn);
// Shard `shard` of `shards` of a global batch, loaded to `device`.
Batch load_shard(const TaskStream& stream, const Dataset& data, const std::vector<int64_t>& global,
                 int shard, int shards, const torch::Device& device);

// Calls fn(batch) for each global batch of `indices` (in the given order), loading this rank's
// shard to `device`. Batches hold internal labels and know their global size.
void for_each_batch(const TaskStream& stream, const Dataset& data,
                    const std::vector<int64_t>& indices, int64_t batch_size,
                    const Communicator& comm, const torch::Device& device,
                    const std::function<void(const Batch&)>& fn);

}  // namespace clbench
