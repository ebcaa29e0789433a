#pragma once
// Class-wise Gaussian feature statistics as HiDe-Prompt keeps them (thu-ml/HiDe-Prompt,
// `ca_storage_efficient_method='multi-centroid'`): a class's features clustered by k-means, each
// cluster kept as its mean and diagonal variance; classifier alignment later draws features from
// N(mean, diag(var) + 1e-4 I) of every cluster whose variance is not zero.
#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace clbench {

struct ClassStatistics {
  torch::Tensor means, variances;  // {k, D} float32: one row per cluster
};

// k-means (k-means++ seeding from `gen`, then Lloyd's iterations until no assignment changes, at
// most 300, as sklearn's KMeans) of `features` {n, D}; k is min(k, n). Population variances.
ClassStatistics multi_centroid(const torch::Tensor& features, int64_t k, at::Generator& gen);

// Draws from a mixture of the clusters of several classes, for classifier alignment: sample `id`
// picks one of `clusters` (class, cluster) pairs uniformly and draws from its Gaussian, from a
// generator seeded by (seed, id) alone, so any rank draws any sample alike.
struct GaussianDraws {
  struct Cluster {
    int64_t label;
    torch::Tensor mean, std;  // {D}: std = sqrt(var + 1e-4)
  };
  std::vector<Cluster> clusters;  // the clusters with a non-zero variance
  uint64_t seed = 0;

  // Adds class `label`'s clusters (those whose mean variance is not zero).
  void add(int64_t label, const ClassStatistics& s);
  // Features {n, D} and labels {n} of the samples `ids`, on `device`.
  std::pair<torch::Tensor, torch::Tensor> draw(const std::vector<int64_t>& ids,
                                               const torch::Device& device) const;
};

}  // namespace clbench
