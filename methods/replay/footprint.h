#pragma once
// What a replay memory takes, counted as if its samples were stored (clbench stores indices and
// reloads the un-augmented sample): per sample its pixels as the dataset keeps them (uint8 or
// float), its label (int64), and optionally a row of float32 (DER's logits) and its task (int64).
#include <cstdint>

#include "datasets/dataset.h"
#include "methods/method.h"

namespace clbench {

MemoryFootprint replay_footprint(const Dataset& data, int64_t samples, int64_t row_floats = 0,
                                 bool task_ids = false);

}  // namespace clbench
