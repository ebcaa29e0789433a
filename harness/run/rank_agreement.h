#pragma once
// Every rank of a job must train the same experiment on the same data, or the sums over ranks mix
// two runs (or wait forever for a collective the other rank never reaches). Checked once the data
// is read and before the first collective of training.
#include <string>
#include <vector>

#include "datasets/task_stream.h"
#include "harness/foundation/config.h"

namespace clbench {

class Communicator;

// Compares this rank's resolved configuration (the keys that may differ per node aside: out,
// data_root, cache, pretrained, loader_threads; the weights count by their content) and its data
// digest with rank 0's. When a rank differs, every rank throws the same clbench::Error naming the
// first such rank and its first difference. Collective.
void require_ranks_agree(Communicator& comm, const Config& config,
                         const std::vector<TaskDigest>& data);

}  // namespace clbench
