#pragma once
// One run from plan to result: build the session, resume its checkpoint if asked, train and
// evaluate (rank 0 writes checkpoints), and describe the result; run_one also skips a complete
// result and writes the result file.
#include <cstdint>
#include <functional>

#include "harness/foundation/error.h"
#include "harness/run/plan.h"
#include "results/result_file.h"

namespace clbench {

class Communicator;
class Progress;

// A run refused before it started, for a reason every rank agrees on (a result of other settings,
// a checkpoint it may not pass over, a second process on the same result). A suite reports it
// and goes on with its other runs.
struct RunRefused : Error {
  using Error::Error;
};

struct RunOptions {
  bool resume = false;                   // continue from the checkpoint if there is one
  int64_t checkpoint_every = 0;          // also checkpoint every N steps (always after each task)
  std::function<bool()> stop_requested;  // this rank's stop signal (the trainer makes ranks agree)
};

// Trains and evaluates; rank 0 writes checkpoints. Throws Interrupted after a requested stop.
RunResult execute(const RunPlan& plan, Communicator& comm, Progress& progress,
                  const RunOptions& options = {});

// execute() unless the plan's result is already complete with the same settings; rank 0 then
// writes the result file, removes the checkpoint and prints a summary line. False when skipped.
// Before training: the output folder must be writable, a complete result of other settings is
// refused (`force` replaces it), a checkpoint is continued only with `options.resume` (`force`
// deletes it and starts over), and a second process on the same result is refused (a file lock).
bool run_one(const RunPlan& plan, Communicator& comm, const RunOptions& options, bool force);

}  // namespace clbench
