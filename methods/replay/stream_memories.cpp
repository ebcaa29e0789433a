#include "methods/replay/stream_memories.h"

#include <map>
#include <numeric>

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"

namespace clbench {

ReservoirMemory::ReservoirMemory(int64_t capacity, uint64_t seed)
    : capacity_(capacity), seed_(seed) {
  if (capacity < 0)
    throw Error("replay memory capacity must be >= 0, got " + std::to_string(capacity));
}

void ReservoirMemory::add(const GlobalRows& batch, int64_t task) {
  if (capacity_ == 0) {
    seen_ += static_cast<int64_t>(batch.indices.size());
    return;
  }
  if (batch.rows.defined() && !rows_.defined()) {
    auto shape = batch.rows.sizes().vec();
    shape[0] = capacity_;
    rows_ = torch::zeros(shape, batch.rows.options());
  }
  // Where each slot's row comes from (the batch's last sample written there): one copy per step
  // instead of one per sample.
  std::map<int64_t, int64_t> row_of_slot;
  for (size_t i = 0; i < batch.indices.size(); ++i) {
    int64_t slot = -1;
    if (seen_ < capacity_) {
      slot = seen_;
      samples_.push_back(batch.indices[i]);
      tasks_.push_back(task);
    } else {
      SplitMix64 rng(mix_seed({seed_, static_cast<uint64_t>(seen_), 0x5E5}));
      const int64_t j = rng.below(seen_ + 1);  // uniform in [0, seen]
      if (j < capacity_) {
        slot = j;
        samples_[static_cast<size_t>(j)] = batch.indices[i];
        tasks_[static_cast<size_t>(j)] = task;
      }
    }
    if (slot >= 0) row_of_slot[slot] = static_cast<int64_t>(i);
    ++seen_;
  }
  if (!rows_.defined() || row_of_slot.empty()) return;
  std::vector<int64_t> slots, rows;
  for (const auto& [slot, row] : row_of_slot) {
    slots.push_back(slot);
    rows.push_back(row);
  }
  const auto on = [&](const std::vector<int64_t>& v) {
    return torch::tensor(v, torch::kLong).to(rows_.device());
  };
  rows_.index_copy_(0, on(slots), batch.rows.index_select(0, on(rows)));
}

std::vector<int64_t> ReservoirMemory::draw(int64_t n, uint64_t seed) const {
  std::vector<int64_t> slots(samples_.size());
  std::iota(slots.begin(), slots.end(), 0);
  slots = shuffled(std::move(slots), seed);
  slots.resize(std::min(slots.size(), static_cast<size_t>(std::max<int64_t>(0, n))));
  return slots;
}

void ReservoirMemory::state(StateVisitor& v) {
  v("seen", seen_);
  v("samples", samples_);
  v("tasks", tasks_);
  bool has_rows = rows_.defined();
  v("has_rows", has_rows);
  if (has_rows) v("rows", rows_);
  if (v.loading() && samples_.size() != tasks_.size())
    throw Error("replay memory state: samples and tasks differ in length");
  if (v.loading() && static_cast<int64_t>(samples_.size()) > capacity_)
    throw Error("replay memory state: " + std::to_string(samples_.size()) +
                " samples for a capacity of " + std::to_string(capacity_));
}

RingMemory::RingMemory(int64_t per_group) : per_group_(per_group) {
  if (per_group < 0) throw Error("ring memory size must be >= 0, got " + std::to_string(per_group));
}

void RingMemory::add(int64_t group, const std::vector<int64_t>& samples) {
  if (group < 0) throw Error("internal: ring memory got group " + std::to_string(group));
  if (per_group_ == 0) return;
  if (static_cast<int64_t>(slots_.size()) <= group) {
    slots_.resize(static_cast<size_t>(group + 1));
    next_.resize(static_cast<size_t>(group + 1), 0);
  }
  auto& ring = slots_[static_cast<size_t>(group)];
  auto& next = next_[static_cast<size_t>(group)];
  for (int64_t s : samples) {
    if (static_cast<int64_t>(ring.size()) < per_group_) {
      ring.push_back(s);
    } else {
      ring[static_cast<size_t>(next)] = s;
    }
    next = (next + 1) % per_group_;
  }
}

std::vector<int64_t> RingMemory::samples(int64_t group) const {
  return samples(group, group + 1);
}

std::vector<int64_t> RingMemory::samples(int64_t begin, int64_t end) const {
  std::vector<int64_t> out;
  for (int64_t g = std::max<int64_t>(0, begin); g < std::min(end, groups()); ++g) {
    const auto& ring = slots_[static_cast<size_t>(g)];
    out.insert(out.end(), ring.begin(), ring.end());
  }
  return out;
}

int64_t RingMemory::size() const {
  int64_t n = 0;
  for (const auto& ring : slots_) n += static_cast<int64_t>(ring.size());
  return n;
}

void RingMemory::state(StateVisitor& v) {
  std::vector<int64_t> counts, flat = samples(0, groups());
  for (const auto& ring : slots_) counts.push_back(static_cast<int64_t>(ring.size()));
  v("counts", counts);
  v("samples", flat);
  v("next", next_);
  if (!v.loading()) return;
  if (counts.size() != next_.size()) throw Error("ring memory state: counts and next differ");
  slots_.assign(counts.size(), {});
  size_t at = 0;
  for (size_t g = 0; g < counts.size(); ++g) {
    const auto n = static_cast<size_t>(counts[g]);
    if (at + n > flat.size() || counts[g] > per_group_)
      throw Error("ring memory state: group " + std::to_string(g) + " holds too many samples");
    slots_[g].assign(flat.begin() + static_cast<std::ptrdiff_t>(at),
                     flat.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
}

}  // namespace clbench
