#pragma once
// Deterministic batching: one global order of samples per (seed, task, epoch), the same on every
// rank; each rank loads only its shards of every global batch.
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <vector>

#include "datasets/batch.h"

namespace clbench {

// Part `index` of `parts` contiguous parts of a global batch (the first n % parts get one more).
std::vector<int64_t> shard(const std::vector<int64_t>& global, int index, int parts);

// Calls fn(global) for each global batch of `indices` (in the given order).
void for_each_global_batch(const std::vector<int64_t>& indices, int64_t batch_size,
                           const std::function<void(const std::vector<int64_t>&)>& fn);

// Shard `index` of `shards` of a global batch, loaded to `device` (augmented with `augment_seed`
// as in load_batch).
Batch load_shard(const TaskStream& stream, const Dataset& data, const std::vector<int64_t>& global,
                 int index, int shards, const torch::Device& device,
                 std::optional<uint64_t> augment_seed = std::nullopt);

// Runs `load(k)` for k = 0..n-1 and hands each result to `use` in order; with `background`, load(k
// + 1) runs on a second thread while use(k) runs (the data loader's prefetch). An exception from
// either side ends the loop and is rethrown after the thread in flight has finished.
template <class T>
void for_each_prefetched(int64_t n, bool background, const std::function<T(int64_t)>& load,
                         const std::function<void(T&)>& use) {
  if (n <= 0) return;
  if (!background) {
    for (int64_t k = 0; k < n; ++k) {
      T item = load(k);
      use(item);
    }
    return;
  }
  auto next = std::async(std::launch::async, load, int64_t{0});
  for (int64_t k = 0; k < n; ++k) {
    T item = next.get();
    if (k + 1 < n) next = std::async(std::launch::async, load, k + 1);
    use(item);  // on throw, `next`'s destructor waits for the load in flight
  }
}

}  // namespace clbench
