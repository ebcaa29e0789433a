#pragma once
// FM-LoRA (Yu et al., CVPRW 2025, arXiv 2504.08823). No official code exists; every choice the
// paper does not publish is a config key (see `clbench list --keys`) and is marked below.
#include <cstdint>
#include <vector>

namespace clbench {

// DRS, the dynamic rank selector (FM-LoRA Sec. 3.2): p(r | T_t) proportional to
// exp((w_r h + b_r) / tau + g_r) over the candidate ranks, h = the task's complexity; the most
// probable rank is used. g_r is Gumbel(0, 1) noise (all zero when sampling is off). The bias b_r is
// clbench's addition: with w_r = 2 r / r_max and b_r = -(r / r_max)^2 (the defaults) the most
// probable rank is the candidate nearest h * r_max, so harder tasks get larger ranks; with b_r = 0
// the paper's formula is exact.
int64_t select_rank(double complexity, const std::vector<int64_t>& ranks,
                    const std::vector<double>& weights, const std::vector<double>& biases,
                    double tau, const std::vector<double>& gumbel);

// What the selector saw and chose, per task (task 0 trains the shared bases at full rank).
struct RankSelection {
  double complexity = 0;  // h: validation loss after the warm-up / ln(classes of the task)
  std::vector<double> gumbel;
  int64_t rank = 0;
};

// Implemented by fm-lora: the selections made so far, one per task.
struct RankSelector {
  virtual ~RankSelector() = default;
  virtual const std::vector<RankSelection>& selections() const = 0;
};

}  // namespace clbench
