#pragma once
// Deterministic batching: one global order of samples per (seed, task, epoch), the same on every
// rank; each rank loads only its shards of every global batch.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
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
// + 1) runs on a second thread while use(k) runs (the data loader's prefetch): it starts once
// load(k) has ended and use(k - 1) has returned, never earlier, so what it reads is what a serial
// loop would have read by then. One thread serves the whole loop (a thread started per batch
// cost about 4% more CPU time in a one-thread MLP run than loading on the training thread). An
// exception from either side ends the loop and is rethrown after the load in flight has finished.
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
  std::mutex mutex;
  std::condition_variable changed;
  int64_t may_start = 0;      // the loader may start load(k) for k <= may_start
  std::optional<T> loaded;    // the last load's result, until the loop takes it
  std::exception_ptr failed;  // the last load's exception
  bool quit = false;
  std::thread loader([&] {
    for (int64_t k = 0; k < n; ++k) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return quit || k <= may_start; });
        if (quit) return;
      }
      std::optional<T> item;
      std::exception_ptr error;
      try {
        item.emplace(load(k));
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        loaded = std::move(item);
        failed = error;
      }
      changed.notify_all();
      if (error) return;
    }
  });
  struct Join {  // on every way out: the load in flight ends, then the thread
    std::function<void()> stop;
    ~Join() { stop(); }
  } join{[&] {
    {
      std::lock_guard<std::mutex> lock(mutex);
      quit = true;
    }
    changed.notify_all();
    loader.join();
  }};
  for (int64_t k = 0; k < n; ++k) {
    std::optional<T> item;
    {
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] { return loaded.has_value() || failed; });
      if (failed) std::rethrow_exception(failed);
      item = std::move(loaded);
      loaded.reset();
      may_start = k + 1;
    }
    changed.notify_all();
    use(*item);
  }
}

}  // namespace clbench
