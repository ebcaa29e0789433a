// Joint training: at task t the model trains on the union of tasks 1..t (the upper bound).
#include "methods/method.h"

namespace clbench {
namespace {

class Joint : public Method {
 public:
  explicit Joint(NoOptions) {}
  std::vector<int64_t> train_indices(const Task& task) const override {
    std::vector<int64_t> all;
    for (const auto& t : ctx_.stream->tasks) {
      if (t.index > task.index) break;
      all.insert(all.end(), t.train.begin(), t.train.end());
    }
    return all;
  }
};

const bool registered_joint = register_method(
    method_entry<Joint>("joint", "upper bound: at task t train on the union of tasks 1..t")
        .runs_on_shared_classes());

}  // namespace
}  // namespace clbench
