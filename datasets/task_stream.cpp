#include "datasets/task_stream.h"

#include "harness/foundation/error.h"

namespace clbench {

TaskStream split_by_class(std::string benchmark, std::shared_ptr<const Dataset> train,
                          std::shared_ptr<const Dataset> test, std::vector<int64_t> class_order,
                          int64_t first, int64_t increment) {
  const int64_t C = static_cast<int64_t>(class_order.size());
  if (first <= 0 || increment <= 0 || first > C) {
    throw Error(benchmark + ": bad task split (first " + std::to_string(first) + ", increment " +
                std::to_string(increment) + ", " + std::to_string(C) + " classes)");
  }
  TaskStream s;
  s.benchmark = std::move(benchmark);
  s.train_set = std::move(train);
  s.test_set = std::move(test);
  s.to_internal.assign(static_cast<size_t>(C), -1);
  for (int64_t k = 0; k < C; ++k) {
    const int64_t id = class_order[k];
    if (id < 0 || id >= C || s.to_internal[id] != -1) {
      throw Error(s.benchmark + ": class order is not a permutation of 0.." +
                  std::to_string(C - 1));
    }
    s.to_internal[id] = k;
  }
  s.class_order = std::move(class_order);
  for (int64_t begin = 0; begin < C;) {
    const int64_t end = std::min(C, begin + (begin == 0 ? first : increment));
    Task t;
    t.index = static_cast<int>(s.tasks.size());
    t.class_begin = begin;
    t.class_end = end;
    t.classes.assign(s.class_order.begin() + begin, s.class_order.begin() + end);
    s.tasks.push_back(std::move(t));
    begin = end;
  }
  auto task_of = [&](int64_t label, const char* split, int64_t i) {
    if (label < 0 || label >= C) {
      throw Error(s.benchmark + ": " + split + " sample " + std::to_string(i) + " has label " +
                  std::to_string(label) + ", outside 0.." + std::to_string(C - 1));
    }
    const int64_t internal = s.to_internal[label];
    for (auto& t : s.tasks) {
      if (internal < t.class_end) return &t;
    }
    return &s.tasks.back();
  };
  for (int64_t i = 0; i < s.train_set->size(); ++i) {
    task_of(s.train_set->label(i), "train", i)->train.push_back(i);
  }
  for (int64_t i = 0; i < s.test_set->size(); ++i) {
    task_of(s.test_set->label(i), "test", i)->test.push_back(i);
  }
  for (const auto& t : s.tasks) {  // a task without samples could not be trained or measured
    for (const auto* split : {&t.train, &t.test}) {
      if (!split->empty()) continue;
      std::string classes;
      for (int64_t c : t.classes) classes += (classes.empty() ? "" : ", ") + std::to_string(c);
      throw Error(s.benchmark + ": task " + std::to_string(t.index + 1) + " (classes " + classes +
                  ") has no " + (split == &t.train ? "training" : "test") + " samples");
    }
  }
  return s;
}

}  // namespace clbench
