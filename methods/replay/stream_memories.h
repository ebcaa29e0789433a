#pragma once
// A reservoir-sampling memory over the whole stream (Vitter 1985, algorithm R, as Mammoth's
// buffer runs it): the first `capacity` samples fill it; the (n+1)-th sample seen replaces a random
// slot j in [0, n] if j < capacity. Optionally each slot keeps a row (DER's logits at insertion)
// and the sample's task. It is fed whole global batches (MethodServices::gather), and its random
// numbers come from the run's seed and the count of samples seen, so every rank holds the same
// memory and a resumed run continues it exactly.
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "methods/services.h"
#include "methods/state.h"

namespace clbench {

class ReservoirMemory {
 public:
  ReservoirMemory(int64_t capacity, uint64_t seed);
  // Offers the batch's samples in order (with their rows if the batch has them) from `task`.
  void add(const GlobalRows& batch, int64_t task);
  // `n` distinct slots (all of them if fewer are filled), drawn with `seed`.
  std::vector<int64_t> draw(int64_t n, uint64_t seed) const;
  const std::vector<int64_t>& samples() const { return samples_; }  // by slot
  const std::vector<int64_t>& tasks() const { return tasks_; }
  const torch::Tensor& rows() const { return rows_; }  // {capacity, ...}; undefined without rows
  int64_t size() const { return static_cast<int64_t>(samples_.size()); }
  int64_t capacity() const { return capacity_; }
  int64_t seen() const { return seen_; }
  bool empty() const { return samples_.empty(); }
  void state(StateVisitor& v);

 private:
  int64_t capacity_;
  uint64_t seed_;
  int64_t seen_ = 0;
  std::vector<int64_t> samples_, tasks_;
  torch::Tensor rows_;
};

// Ring buffers, one per group (a task: GEM's episodic memories, Lopez-Paz & Ranzato 2017,
// official code; a class: A-GEM's, Chaudhry et al. 2019, official code): each group's memory is
// written cyclically from the stream, so it holds the group's last `per_group` samples seen.
class RingMemory {
 public:
  explicit RingMemory(int64_t per_group);
  void add(int64_t group, const std::vector<int64_t>& samples);
  std::vector<int64_t> samples(int64_t group) const;  // in slot order
  // Every group's in [begin, end), group by group.
  std::vector<int64_t> samples(int64_t begin, int64_t end) const;
  int64_t groups() const { return static_cast<int64_t>(slots_.size()); }
  int64_t size() const;
  int64_t per_group() const { return per_group_; }
  void state(StateVisitor& v);

 private:
  int64_t per_group_;
  std::vector<std::vector<int64_t>> slots_;
  std::vector<int64_t> next_;  // per group: the slot the next sample overwrites
};

}  // namespace clbench
