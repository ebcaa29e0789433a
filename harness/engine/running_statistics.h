#pragma once
// The batch-norm running statistics of one step (harness/models/batch_norm.h): each rank recorded
// its shards' updates; every rank gathers those of all shards and applies them in shard order, so
// all ranks hold the same bits and the number of ranks does not change them.
namespace clbench {

class Communicator;

// Collective when batch norms exist: every rank calls it after the same step.
void apply_running_statistics(Communicator& comm, int shard_count);

}  // namespace clbench
