#include "methods/replay/class_balanced.h"

#include "harness/foundation/error.h"

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

std::vector<int64_t> ClassBalancedMemory::after(const std::vector<int64_t>& first) const {
  auto all = first;
  for (const auto& [c, samples] : by_class_) all.insert(all.end(), samples.begin(), samples.end());
  return all;
}

std::map<int64_t, int64_t> ClassBalancedMemory::counts() const {
  std::map<int64_t, int64_t> n;
  for (const auto& [c, samples] : by_class_) n[c] = static_cast<int64_t>(samples.size());
  return n;
}

void ClassBalancedMemory::state(StateVisitor& v) {
  std::vector<int64_t> classes, counts, samples;
  for (const auto& [c, stored] : by_class_) {
    classes.push_back(c);
    counts.push_back(static_cast<int64_t>(stored.size()));
    samples.insert(samples.end(), stored.begin(), stored.end());
  }
  v("classes", classes);
  v("counts", counts);
  v("samples", samples);
  if (!v.loading()) return;
  if (classes.size() != counts.size())
    throw Error("replay memory state: classes and counts differ");
  by_class_.clear();
  size_t offset = 0;
  for (size_t k = 0; k < classes.size(); ++k) {
    const auto n = static_cast<size_t>(counts[k]);
    if (offset + n > samples.size()) throw Error("replay memory state: too few samples");
    by_class_[classes[k]].assign(samples.begin() + static_cast<std::ptrdiff_t>(offset),
                                 samples.begin() + static_cast<std::ptrdiff_t>(offset + n));
    offset += n;
  }
}

}  // namespace clbench
