#include "harness/engine/trainer_state.h"

namespace clbench {

namespace {

void matrix(StateVisitor& v, const std::string& name, Matrix& m) {
  v.each(name, m, [](StateVisitor& v, std::vector<double>& row) { v("row", row); });
}

}  // namespace

void StreamRecord::state(StateVisitor& v) {
  matrix(v, "class_il", class_il);
  matrix(v, "task_il", task_il);
  v.each("others", others, [](StateVisitor& v, PredictionRecord& p) {
    v("name", p.name);
    matrix(v, "class_il", p.class_il);
    matrix(v, "task_il", p.task_il);
  });
  v("init_class_il", init_class_il);
  v("init_task_il", init_task_il);
  v("task_seconds", task_seconds);
  v("trainable_params", trainable_params);
  v("stored_params", stored_params);
  v("memory_samples", memory_samples);
  v("memory_bytes", memory_bytes);
  v("peak_host_bytes", peak_host_bytes);
  v("peak_device_bytes", peak_device_bytes);
  v("train_images_per_second", train_images_per_second);
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
