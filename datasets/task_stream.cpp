#include "datasets/task_stream.h"

#include <algorithm>

#include "harness/foundation/error.h"
#include "harness/foundation/hash.h"

namespace clbench {

TaskStream split_by_class(std::string benchmark, std::shared_ptr<const Dataset> train,
                          std::shared_ptr<const Dataset> test, std::vector<int64_t> class_order,
                          int64_t first, int64_t increment) {
  const int64_t C = static_cast<int64_t>(class_order.size());
  if (first <= 0 || increment <= 0 || first > C) {
    throw Error(benchmark + ": bad task split (first " + std::to_string(first) + ", increment " +
                std::to_string(increment) + ", " + std::to_string(C) + " classes)");
  }
  std::vector<int64_t> sizes;
  for (int64_t begin = 0; begin < C;) {
    const int64_t end = std::min(C, begin + (begin == 0 ? first : increment));
    sizes.push_back(end - begin);
    begin = end;
  }
  return split_by_sizes(std::move(benchmark), std::move(train), std::move(test),
                        std::move(class_order), sizes);
}

TaskStream split_by_sizes(std::string benchmark, std::shared_ptr<const Dataset> train,
                          std::shared_ptr<const Dataset> test, std::vector<int64_t> class_order,
                          const std::vector<int64_t>& sizes) {
  const int64_t C = static_cast<int64_t>(class_order.size());
  int64_t total = 0;
  for (int64_t n : sizes) {
    if (n <= 0) {
      throw Error(benchmark + ": bad task split (a task of " + std::to_string(n) + " classes)");
    }
    total += n;
  }
  if (sizes.empty() || total != C) {
    throw Error(benchmark + ": bad task split (" + std::to_string(sizes.size()) + " tasks of " +
                std::to_string(total) + " classes in all for " + std::to_string(C) + " classes)");
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
  int64_t begin = 0;
  for (int64_t n : sizes) {
    Task t;
    t.index = static_cast<int>(s.tasks.size());
    t.class_begin = begin;
    t.class_end = begin + n;
    t.classes.assign(s.class_order.begin() + begin, s.class_order.begin() + t.class_end);
    s.tasks.push_back(std::move(t));
    begin += n;
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

namespace {

std::string samples_hash(const Task& task, const TaskStream& stream) {
  uint64_t h = fnv1a(nullptr, 0);
  for (const auto& [set, indices] : {std::pair{stream.train_set.get(), &task.train},
                                     std::pair{stream.test_set.get(), &task.test}}) {
    for (const int64_t i : *indices) {
      const uint64_t sample[2] = {set->sample_identity(i), static_cast<uint64_t>(set->label(i))};
      h = fnv1a(sample, sizeof sample, h);
    }
  }
  return hex64(h);
}

std::string class_list(const std::vector<int64_t>& classes) {
  std::string ids;
  for (const int64_t c : classes) ids += (ids.empty() ? "" : ",") + std::to_string(c);
  return ids;
}

}  // namespace

std::vector<TaskDigest> digest_tasks(const TaskStream& stream) {
  std::vector<TaskDigest> digests;
  for (const auto& task : stream.tasks) {
    digests.push_back({static_cast<int64_t>(task.train.size()),
                       static_cast<int64_t>(task.test.size()), task.classes,
                       samples_hash(task, stream)});
  }
  return digests;
}

std::string data_content(const std::vector<TaskDigest>& tasks) {
  std::string text;
  for (const auto& t : tasks) {
    text += std::to_string(t.train) + ";" + std::to_string(t.test) + ";" + class_list(t.classes) +
            ";" + t.samples + "\n";
  }
  return hex64(fnv1a(text.data(), text.size()));
}

std::string first_data_difference(const std::vector<TaskDigest>& a,
                                  const std::vector<TaskDigest>& b, const std::string& a_name,
                                  const std::string& b_name) {
  auto both = [&](const std::string& what, const std::string& x, const std::string& y) {
    return what + " " + x + " on " + a_name + " and " + y + " on " + b_name;
  };
  if (a.size() != b.size()) {
    return both("the stream has", std::to_string(a.size()) + " tasks",
                std::to_string(b.size()) + " tasks");
  }
  for (size_t t = 0; t < a.size(); ++t) {
    const std::string task = "task " + std::to_string(t + 1);
    if (a[t].classes != b[t].classes) {
      return both(task + " has classes", class_list(a[t].classes), class_list(b[t].classes));
    }
    if (a[t].train != b[t].train) {
      return both(task + " has", std::to_string(a[t].train) + " training samples",
                  std::to_string(b[t].train));
    }
    if (a[t].test != b[t].test) {
      return both(task + " has", std::to_string(a[t].test) + " test samples",
                  std::to_string(b[t].test));
    }
    if (a[t].samples != b[t].samples) {
      return both(task + "'s samples differ: hash", a[t].samples, b[t].samples);
    }
  }
  return "";
}

}  // namespace clbench
