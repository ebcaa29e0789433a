#include "harness/engine/trainer_state.h"

namespace clbench {

void StreamRecord::state(StateVisitor& v) {
  for (auto* m : {&class_il, &task_il}) {
    v.each(m == &class_il ? "class_il" : "task_il", *m,
           [](StateVisitor& v, std::vector<double>& row) { v("row", row); });
  }
  v("init_class_il", init_class_il);
  v("init_task_il", init_task_il);
  v("task_seconds", task_seconds);
  v("trainable_params", trainable_params);
  v("stored_params", stored_params);
  v("total_params", total_params);
  v("world_sizes", world_sizes);
}

void TrainerState::state(StateVisitor& v) {
  v("task", task);
  v("stage", stage);
  v("epoch", epoch);
  v("step", step);
  v("fit", fit);
  v("task_elapsed", task_elapsed);
  v("evaluated_init", evaluated_init);
  v("evaluate_pending", evaluate_pending);
  record.state(v);
}

}  // namespace clbench
