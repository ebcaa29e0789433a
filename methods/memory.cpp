#include "methods/memory.h"

#include "harness/error.h"

namespace clbench {

ClassBalancedMemory::ClassBalancedMemory(int64_t capacity) : capacity_(capacity) {
  if (capacity < 0)
    throw Error("replay memory capacity must be >= 0, got " + std::to_string(capacity));
}

void ClassBalancedMemory::update(const std::map<int64_t, std::vector<int64_t>>& new_classes) {
  for (const auto& [c, samples] : new_classes) by_class_[c] = samples;
  if (by_class_.empty()) return;
  const int64_t classes = static_cast<int64_t>(by_class_.size());
  const int64_t base = capacity_ / classes, extra = capacity_ % classes;
  int64_t k = 0;
  for (auto& [c, samples] : by_class_) {
    const int64_t quota = base + (k++ < extra ? 1 : 0);
    if (static_cast<int64_t>(samples.size()) > quota) samples.resize(static_cast<size_t>(quota));
  }
}

std::vector<int64_t> ClassBalancedMemory::samples() const {
  std::vector<int64_t> all;
  for (const auto& [c, samples] : by_class_) all.insert(all.end(), samples.begin(), samples.end());
  return all;
}

std::map<int64_t, int64_t> ClassBalancedMemory::counts() const {
  std::map<int64_t, int64_t> n;
  for (const auto& [c, samples] : by_class_) n[c] = static_cast<int64_t>(samples.size());
  return n;
}

}  // namespace clbench
