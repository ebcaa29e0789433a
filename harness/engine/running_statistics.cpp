#include "harness/engine/running_statistics.h"

#include <algorithm>

#include <torch/torch.h>

#include "harness/distributed/communicator.h"
#include "harness/foundation/error.h"
#include "harness/models/batch_norm.h"

namespace clbench {

void apply_running_statistics(Communicator& comm, int shard_count) {
  if (!batch_norms_exist()) return;
  auto mine = take_running_updates();
  std::stable_sort(mine.begin(), mine.end(), [](const RunningUpdate& a, const RunningUpdate& b) {
    return a.shard < b.shard;
  });
  if (comm.size() == 1) {
    apply_running_updates(mine);
    return;
  }
  // How many updates each shard made; every shard runs the same layers, so they must agree.
  auto counts = torch::zeros({shard_count}, torch::kDouble);
  for (const auto& u : mine) counts[u.shard] += 1;
  counts = comm.sum(counts);
  const auto per_shard = counts[0].item<int64_t>();
  if (!torch::equal(counts, torch::full({shard_count}, double(per_shard), torch::kDouble))) {
    throw Error("internal: the shards of a step ran their batch norms a different number of times");
  }
  if (per_shard == 0) return;
  // Every rank fills its shards' rows of a {K, sum_e(2 C_e + 1)} table (zeros elsewhere, so the
  // sum over ranks is exact); entry e of every shard belongs to the same layer.
  const std::vector<RunningUpdate> layers(mine.begin(), mine.begin() + per_shard);
  std::vector<int64_t> offset;  // layer e's columns: mean, variance, then its sample count
  int64_t width = 0;
  for (const auto& u : layers) {
    offset.push_back(width);
    width += 2 * u.mean.numel() + 1;
  }
  auto table = torch::zeros({shard_count, width}, layers[0].mean.options());
  for (size_t i = 0; i < mine.size(); ++i) {
    const auto& u = mine[i];
    const auto e = static_cast<size_t>(static_cast<int64_t>(i) % per_shard);
    const int64_t c = u.mean.numel();
    if (c != layers[e].mean.numel()) {
      throw Error("internal: the shards of a step ran different batch norms");
    }
    auto row = table[u.shard];
    row.narrow(0, offset[e], c).copy_(u.mean);
    row.narrow(0, offset[e] + c, c).copy_(u.var);
    row[offset[e] + 2 * c] = static_cast<double>(u.samples);
  }
  std::vector<torch::Tensor> all{table};
  comm.allreduce_sum(all);
  std::vector<int64_t> sample_columns;
  for (size_t e = 0; e < layers.size(); ++e)
    sample_columns.push_back(offset[e] + 2 * layers[e].mean.numel());
  const auto samples =  // one copy to the host for the whole table
      all[0].index_select(1, torch::tensor(sample_columns).to(table.device())).to(torch::kCPU);
  std::vector<RunningUpdate> ordered;
  for (int k = 0; k < shard_count; ++k) {
    for (size_t e = 0; e < layers.size(); ++e) {
      RunningUpdate u = layers[e];
      const int64_t c = u.mean.numel();
      u.shard = k;
      u.mean = all[0][k].narrow(0, offset[e], c);
      u.var = all[0][k].narrow(0, offset[e] + c, c);
      u.samples = samples[k][static_cast<int64_t>(e)].item<int64_t>();
      ordered.push_back(std::move(u));
    }
  }
  apply_running_updates(ordered);
}

}  // namespace clbench
