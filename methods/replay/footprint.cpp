#include "methods/replay/footprint.h"

#include <torch/torch.h>

namespace clbench {

MemoryFootprint replay_footprint(const Dataset& data, int64_t samples, int64_t row_floats,
                                 bool task_ids) {
  if (samples == 0 || data.size() == 0) return {samples, 0};
  int64_t pixels = static_cast<int64_t>(data.images({0}).element_size());
  for (int64_t d : data.image_shape()) pixels *= d;
  const int64_t per_sample = pixels + 8 + 4 * row_floats + (task_ids ? 8 : 0);
  return {samples, samples * per_sample};
}

}  // namespace clbench
