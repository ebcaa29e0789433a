#pragma once
// A class-balanced replay memory of sample indices: every class seen so far keeps an equal share
// of the capacity (the first capacity % classes classes, by id, one more).
#include <cstdint>
#include <map>
#include <vector>

#include "methods/state.h"

namespace clbench {

class ClassBalancedMemory {
 public:
  explicit ClassBalancedMemory(int64_t capacity);
  // Adds classes (candidates in the order to keep them, e.g. shuffled), then trims every class to
  // its quota; classes already stored keep their first samples.
  void update(const std::map<int64_t, std::vector<int64_t>>& new_classes);
  std::vector<int64_t> samples() const;  // grouped by class id, ascending
  // `first` followed by samples(): a task's data with the memory (iCaRL's and DyTox's training
  // set).
  std::vector<int64_t> after(const std::vector<int64_t>& first) const;
  std::map<int64_t, int64_t> counts() const;
  int64_t capacity() const { return capacity_; }
  bool empty() const { return by_class_.empty(); }
  void state(StateVisitor& v);  // the stored samples of every class

 private:
  int64_t capacity_;
  std::map<int64_t, std::vector<int64_t>> by_class_;
};

}  // namespace clbench
