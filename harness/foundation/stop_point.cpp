#include "harness/foundation/stop_point.h"

#include <atomic>

namespace clbench {

namespace {

// Global rather than thread-local: autograd may run a backward's hooks on its own threads.
std::atomic<const std::function<bool()>*> open_scope{nullptr};
std::atomic<bool> thrown{false};

}  // namespace

StopPoints::StopPoints(std::function<bool()> stop_requested) {
  thrown = false;
  open_scope = new std::function<bool()>(std::move(stop_requested));
}

StopPoints::~StopPoints() {
  delete open_scope.exchange(nullptr);
}

bool StopPoints::abandoned() const {
  return thrown;
}

bool stop_points_open() {
  return open_scope.load() != nullptr;
}

void stop_point() {
  const auto* stop = open_scope.load();
  if (stop == nullptr || !(*stop) || !(*stop)()) return;
  thrown = true;
  throw StepAbandoned();
}

}  // namespace clbench
