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

namespace detail {

// load(0), load(1), ... on a thread of its own, each started once the one before has been taken
// (so at most one load runs ahead of the taker). The destructor lets the load in flight end.
template <class T>
class OneAheadLoader {
 public:
  OneAheadLoader(int64_t n, const std::function<T(int64_t)>& load)
      : thread_([this, n, &load] { run(n, load); }) {}
  ~OneAheadLoader() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  OneAheadLoader(const OneAheadLoader&) = delete;
  OneAheadLoader& operator=(const OneAheadLoader&) = delete;

  // The next load's result (its exception, rethrown); lets the one after it start.
  T take() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return loaded_.has_value() || failed_; });
    if (failed_) std::rethrow_exception(failed_);
    T item = std::move(*loaded_);
    loaded_.reset();
    ++taken_;
    lock.unlock();
    changed_.notify_all();
    return item;
  }

 private:
  void run(int64_t n, const std::function<T(int64_t)>& load) {
    for (int64_t k = 0; k < n; ++k) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return quit_ || k <= taken_; });
        if (quit_) return;
      }
      std::optional<T> item;
      std::exception_ptr error;
      try {
        item.emplace(load(k));
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        loaded_ = std::move(item);
        failed_ = error;
      }
      changed_.notify_all();
      if (error) return;
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  int64_t taken_ = 0;          // load(k) may start for k <= taken_
  std::optional<T> loaded_;    // the last load's result, until taken
  std::exception_ptr failed_;  // the last load's exception
  bool quit_ = false;
  std::thread thread_;  // last: started once the state above exists
};

}  // namespace detail

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
  detail::OneAheadLoader<T> loader(n, load);
  for (int64_t k = 0; k < n; ++k) {
    T item = loader.take();
    use(item);
  }
}

}  // namespace clbench
