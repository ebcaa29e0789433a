#include "methods/replay/herding.h"

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>
#include <type_traits>

#include <immintrin.h>

#include <torch/torch.h>

#include "harness/foundation/cpu_features.h"

namespace clbench {

namespace {

// f_i . v for every row of the row-major {n, d} table f, in float64, every row summed in the same
// order, so equal rows get equal scores and ties go to the lowest index. Float32 rows are widened
// as they are read: the same products at half the memory traffic.
template <class Row>
void row_products_portable(const Row* f, int64_t n, int64_t d, const double* v, double* out) {
  for (int64_t i = 0; i < n; ++i, f += d) {
    double s[4] = {0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 4 <= d; j += 4) {
      for (int k = 0; k < 4; ++k) s[k] += static_cast<double>(f[j + k]) * v[j + k];
    }
    for (; j < d; ++j) s[0] += static_cast<double>(f[j]) * v[j];
    out[i] = (s[0] + s[2]) + (s[1] + s[3]);
  }
}

// The same with AVX2 fused multiply-adds (4x faster; every machine that runs the portable kernels
// has them, so the bits are the same on all of those).
__attribute__((target("avx2,fma"))) void row_products_avx2(const float* f, int64_t n, int64_t d,
                                                           const double* v, double* out) {
  for (int64_t i = 0; i < n; ++i, f += d) {
    __m256d a = _mm256_setzero_pd(), b = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 8 <= d; j += 8) {
      const __m256 x = _mm256_loadu_ps(f + j);
      a = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), _mm256_loadu_pd(v + j), a);
      b = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), _mm256_loadu_pd(v + j + 4),
                          b);
    }
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, _mm256_add_pd(a, b));
    double sum = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
    for (; j < d; ++j) sum += static_cast<double>(f[j]) * v[j];
    out[i] = sum;
  }
}

template <class Row>
void row_products(const Row* f, int64_t n, int64_t d, const double* v, double* out) {
  if constexpr (std::is_same_v<Row, float>) {
    if (cpu_has_avx2_fma()) return row_products_avx2(f, n, d, v, out);
  }
  row_products_portable(f, n, d, v, out);
}

template <class Row>
std::vector<int64_t> herd(const torch::Tensor& features, int64_t m) {
  const auto f = features.contiguous();
  const auto wide = f.to(torch::kFloat64);
  const int64_t n = f.size(0), d = f.size(1);
  const auto mu = wide.mean(0);
  const auto squared_norms = wide.pow(2).sum(1);
  const Row* rows = f.data_ptr<Row>();
  const double* mean = mu.data_ptr<double>();
  std::vector<double> norm2(squared_norms.data_ptr<double>(), squared_norms.data_ptr<double>() + n);
  std::vector<double> chosen_sum(static_cast<size_t>(d), 0.0), target(static_cast<size_t>(d));
  std::vector<double> products(static_cast<size_t>(n));
  std::vector<int64_t> order;
  for (int64_t k = 1; k <= std::min(m, n); ++k) {
    for (int64_t j = 0; j < d; ++j) target[j] = static_cast<double>(k) * mean[j] - chosen_sum[j];
    row_products(rows, n, d, target.data(), products.data());
    int64_t best = -1;
    double best_cost = std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      const double cost = norm2[i] - 2.0 * products[i];
      if (cost < best_cost) best = i, best_cost = cost;  // a chosen row has norm2 = infinity
    }
    if (best < 0) throw std::runtime_error("herding: a feature that is not finite (NaN or inf)");
    order.push_back(best);
    norm2[best] = std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < d; ++j) chosen_sum[j] += static_cast<double>(rows[best * d + j]);
  }
  return order;
}

}  // namespace

// ||mu - (S + f_i)/k||^2 = (||k mu - S||^2 - 2 f_i.(k mu - S) + ||f_i||^2) / k^2, and the first
// term is the same for every i: step k is one product of the features with k mu - S (in float64).
std::vector<int64_t> herding_order(const torch::Tensor& features, int64_t m) {
  const auto f = features.to(torch::kCPU);
  if (f.scalar_type() == torch::kFloat32) return herd<float>(f, m);
  return herd<double>(f.to(torch::kFloat64), m);
}

void herd_task(ClassBalancedMemory& memory, const Task& task,
               const std::function<int64_t(int64_t)>& class_of,
               const std::function<torch::Tensor(const std::vector<int64_t>&)>& features_of) {
  const int64_t quota =
      (memory.capacity() + task.class_end - 1) / std::max<int64_t>(1, task.class_end);
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (int64_t i : task.train) by_class[class_of(i)].push_back(i);
  std::map<int64_t, std::vector<int64_t>> herded;
  for (auto& [c, members] : by_class) {
    for (int64_t k : herding_order(features_of(members), quota))
      herded[c].push_back(members[static_cast<size_t>(k)]);
  }
  memory.update(herded);
}

}  // namespace clbench
