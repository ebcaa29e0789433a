#pragma once
// Stop points inside a step. A step is the unit a stop normally waits for, and most steps take
// milliseconds; a ViT-B forward and backward on a CPU takes tens of seconds. With one rank, the
// step loop opens a StopPoints scope around each step's forward and backward, and the models call
// stop_point() between their blocks (and, through a gradient hook, between the blocks' backward):
// a stop requested meanwhile abandons the half-done step (StepAbandoned), and the checkpoint is the
// state before it. Several ranks never abandon a step alone (the others would wait in the
// gradient sum): there the stop is taken at the step's end as before.
#include <functional>
#include <stdexcept>

namespace clbench {

struct StepAbandoned : std::runtime_error {
  StepAbandoned() : std::runtime_error("step abandoned: a stop was requested inside it") {}
};

// While alive, stop_point() polls `stop_requested`. Scopes do not nest.
class StopPoints {
 public:
  explicit StopPoints(std::function<bool()> stop_requested);
  ~StopPoints();
  StopPoints(const StopPoints&) = delete;
  StopPoints& operator=(const StopPoints&) = delete;
  // Whether a stop point threw inside this scope (also when an exception carrying it was
  // re-thrown as another type, as autograd may do).
  bool abandoned() const;
};

bool stop_points_open();
// Throws StepAbandoned inside a StopPoints scope whose stop was requested; otherwise nothing.
void stop_point();

}  // namespace clbench
