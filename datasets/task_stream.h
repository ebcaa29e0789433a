#pragma once
// A task stream: the class order cut into tasks, each with its train and test samples.
// Internally a class is its position in the class order, so task t owns the contiguous label
// range [class_begin, class_end) and "classes seen after task t" is simply [0, class_end).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace clbench {

struct Task {
  int index = 0;
  std::vector<int64_t> classes;  // original class ids, in class order
  int64_t class_begin = 0, class_end = 0;
  std::vector<int64_t> train, test;  // sample indices into the stream's train/test datasets
};

struct TaskStream {
  std::string benchmark;
  std::shared_ptr<const Dataset> train_set, test_set;
  std::vector<int64_t> class_order;  // class_order[k] = original id of internal class k
  std::vector<int64_t> to_internal;  // original id -> internal class
  std::vector<Task> tasks;

  int64_t num_classes() const { return static_cast<int64_t>(class_order.size()); }
  int num_tasks() const { return static_cast<int>(tasks.size()); }
  std::vector<int64_t> input_shape() const { return train_set->image_shape(); }
};

// Class-incremental split: the first task takes `first` classes, every later one `increment`
// (PILOT/PyCIL init_cls/increment; a remainder forms a last, smaller task). A task without training
// or test samples is an Error naming it.
TaskStream split_by_class(std::string benchmark, std::shared_ptr<const Dataset> train,
                          std::shared_ptr<const Dataset> test, std::vector<int64_t> class_order,
                          int64_t first, int64_t increment);

// Tasks of the given sizes: task t takes the next `sizes[t]` classes of the class order (every size
// > 0, summing to the class count; otherwise an Error naming the benchmark). The same checks as
// split_by_class.
TaskStream split_by_sizes(std::string benchmark, std::shared_ptr<const Dataset> train,
                          std::shared_ptr<const Dataset> test, std::vector<int64_t> class_order,
                          const std::vector<int64_t>& sizes);

// What a task is made of, for comparing data (ranks at start-up, a result with the run that
// would recompute it): its sample counts, its classes and a hash of its samples' identities and
// labels (Dataset::sample_identity), training samples then test samples, in stream order.
struct TaskDigest {
  int64_t train = 0, test = 0;
  std::vector<int64_t> classes;
  std::string samples;  // hex64
};
std::vector<TaskDigest> digest_tasks(const TaskStream& stream);

// One hex64 for the whole stream: the result's "data_content" (results/fingerprint.h).
std::string data_content(const std::vector<TaskDigest>& tasks);

// The first difference between two streams' digests, e.g. "task 2 has 1000 training samples on
// rank 0 and 998 on rank 1" ("" if none).
std::string first_data_difference(const std::vector<TaskDigest>& a,
                                  const std::vector<TaskDigest>& b, const std::string& a_name,
                                  const std::string& b_name);

}  // namespace clbench
