#include "methods/prompts/class_statistics.h"

#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"
#include "methods/method.h"

namespace clbench {

ClassStatistics multi_centroid(const torch::Tensor& features, int64_t k, at::Generator& gen) {
  const auto x = features.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t n = x.size(0);
  if (n == 0) throw Error("internal: class statistics of no sample");
  k = std::min(k, n);
  // k-means++: the first centre uniformly, each next one with probability proportional to the
  // squared distance to the nearest centre so far.
  std::vector<int64_t> chosen = {torch::randint(n, {1}, gen, torch::kLong).item<int64_t>()};
  auto nearest = (x - x[chosen[0]]).pow(2).sum(1);
  while (static_cast<int64_t>(chosen.size()) < k) {
    const double total = nearest.sum().item<double>();
    int64_t next = 0;
    if (total > 0) {
      next = torch::multinomial(nearest / total, 1, false, gen).item<int64_t>();
    } else {  // every point sits on a centre: any other point
      next = static_cast<int64_t>(chosen.size());
    }
    chosen.push_back(next);
    nearest = torch::minimum(nearest, (x - x[next]).pow(2).sum(1));
  }
  auto centres = x.index_select(0, torch::tensor(chosen, torch::kLong));
  torch::Tensor assignment;
  for (int iteration = 0; iteration < 300; ++iteration) {
    const auto next = torch::cdist(x, centres).argmin(1);
    if (assignment.defined() && torch::equal(next, assignment)) break;
    assignment = next;
    for (int64_t c = 0; c < k; ++c) {
      const auto members = (assignment == c).nonzero().squeeze(1);
      if (members.numel() > 0) centres[c] = x.index_select(0, members).mean(0);
    }
  }
  ClassStatistics s;
  s.means = torch::zeros({k, x.size(1)}, torch::kDouble);
  s.variances = torch::zeros({k, x.size(1)}, torch::kDouble);
  for (int64_t c = 0; c < k; ++c) {
    const auto members = x.index_select(0, (assignment == c).nonzero().squeeze(1));
    if (members.size(0) == 0) continue;  // an empty cluster: variance 0, never drawn
    s.means[c] = members.mean(0);
    s.variances[c] = members.var(0, /*unbiased=*/false);
  }
  s.means = s.means.to(torch::kFloat);
  s.variances = s.variances.to(torch::kFloat);
  return s;
}

void GaussianDraws::add(int64_t label, const ClassStatistics& s) {
  for (int64_t c = 0; c < s.means.size(0); ++c) {
    if (s.variances[c].mean().item<double>() == 0.0) continue;  // as the official code skips it
    clusters.push_back({label, s.means[c].cpu(), (s.variances[c].cpu() + 1e-4).sqrt()});
  }
}

std::pair<torch::Tensor, torch::Tensor> GaussianDraws::draw(const std::vector<int64_t>& ids,
                                                            const torch::Device& device) const {
  if (clusters.empty()) throw Error("classifier alignment: no cluster with a non-zero variance");
  const int64_t D = clusters[0].mean.size(0);
  auto x = torch::empty({static_cast<int64_t>(ids.size()), D});
  std::vector<int64_t> labels;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto gen = make_generator(static_cast<int64_t>(seed), ids[i]);
    const auto pick = torch::randint(static_cast<int64_t>(clusters.size()), {1}, gen, torch::kLong)
                          .item<int64_t>();
    const auto& c = clusters[static_cast<size_t>(pick)];
    x[static_cast<int64_t>(i)] = c.mean + c.std * torch::randn({D}, gen);
    labels.push_back(c.label);
  }
  return {x.to(device), torch::tensor(labels, torch::kLong).to(device)};
}

}  // namespace clbench
