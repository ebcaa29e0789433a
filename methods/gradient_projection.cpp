#include "methods/gradient_projection.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <torch/torch.h>

#include "harness/foundation/cpu_features.h"
#include "harness/foundation/error.h"

namespace clbench {
namespace {

// Solves A x = b for symmetric positive definite A (n x n, row-major) by Cholesky.
Vector cholesky_solve(Vector A, Vector b, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double d = A[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= A[j * n + k] * A[j * n + k];
    if (!(d > 0))
      throw Error("QP: the matrix is not positive definite (pivot " + std::to_string(d) + ")");
    const double l = std::sqrt(d);
    A[j * n + j] = l;
    for (size_t i = j + 1; i < n; ++i) {
      double s = A[i * n + j];
      for (size_t k = 0; k < j; ++k) s -= A[i * n + k] * A[j * n + k];
      A[i * n + j] = s / l;
    }
  }
  for (size_t i = 0; i < n; ++i) {  // L y = b
    for (size_t k = 0; k < i; ++k) b[i] -= A[i * n + k] * b[k];
    b[i] /= A[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {  // L' x = y
    for (size_t k = i + 1; k < n; ++k) b[i] -= A[k * n + i] * b[k];
    b[i] /= A[i * n + i];
  }
  return b;
}

}  // namespace

Vector solve_bounded_qp(const Vector& P, const Vector& q, const Vector& lower) {
  const size_t n = q.size();
  if (P.size() != n * n || lower.size() != n) throw Error("internal: QP of inconsistent sizes");
  // A multiplier counts as negative, and a variable as at its bound, beyond rounding only.
  double scale = 0;
  for (size_t i = 0; i < n; ++i) {
    scale = std::max({scale, std::abs(P[i * n + i]) * (1 + std::abs(lower[i])), std::abs(q[i])});
  }
  const double tol = 1e-13 * scale;
  Vector v = lower;
  std::vector<bool> free(n, false);
  auto gradient = [&](size_t i) {
    double w = q[i];
    for (size_t k = 0; k < n; ++k) w += P[i * n + k] * v[k];
    return w;
  };
  for (size_t outer = 0; outer < 10 * n + 10; ++outer) {
    // KKT: every variable at its bound must have a non-negative gradient (its multiplier).
    size_t enter = n;
    double most = -tol;
    for (size_t i = 0; i < n; ++i) {
      if (free[i]) continue;
      const double w = gradient(i);
      if (w < most) {
        most = w;
        enter = i;
      }
    }
    if (enter == n) return v;
    free[enter] = true;
    for (size_t inner = 0; inner <= n; ++inner) {
      // Minimise over the free variables with the others at their bounds.
      std::vector<size_t> F;
      for (size_t i = 0; i < n; ++i)
        if (free[i]) F.push_back(i);
      const size_t m = F.size();
      Vector A(m * m), b(m);
      for (size_t a = 0; a < m; ++a) {
        b[a] = -q[F[a]];
        for (size_t k = 0; k < n; ++k)
          if (!free[k]) b[a] -= P[F[a] * n + k] * lower[k];
        for (size_t c = 0; c < m; ++c) A[a * m + c] = P[F[a] * n + F[c]];
      }
      const Vector z = cholesky_solve(A, b, m);
      bool feasible = true;
      for (size_t a = 0; a < m; ++a) feasible = feasible && z[a] > lower[F[a]];
      if (feasible) {
        for (size_t a = 0; a < m; ++a) v[F[a]] = z[a];
        break;
      }
      // Step from v towards z as far as the bounds allow; the variables that reach one leave F.
      double alpha = 1;
      for (size_t a = 0; a < m; ++a) {
        const size_t i = F[a];
        if (z[a] <= lower[i] && v[i] - z[a] > 0)
          alpha = std::min(alpha, (v[i] - lower[i]) / (v[i] - z[a]));
      }
      for (size_t a = 0; a < m; ++a) {
        const size_t i = F[a];
        v[i] += alpha * (z[a] - v[i]);
        if (v[i] <= lower[i] + tol * (1 + std::abs(lower[i]))) {
          v[i] = lower[i];
          free[i] = false;
        }
      }
    }
  }
  throw Error("QP: the active-set solve did not converge");
}

template <class T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
  return s;
}

namespace {

// Each vector is read in blocks, so that it is read from memory once per step (the vectors are
// megabytes, the products memory-bound).
constexpr size_t kBlock = 1024;

// The products below keep one order, whatever the path: a block's dot product in four float64
// lanes (element i in lane i % 4, the tail in lane 0) added as (l0 + l1) + (l2 + l3), each block's
// result added to the running sum; multiplies and adds never fused. So float32 rows give the bits
// of their float64 widening (the test compares them), on every processor.
template <class T>
double block_dot(const T* a, const T* b, size_t m) {
  double p[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= m; i += 4) {
    for (size_t k = 0; k < 4; ++k) p[k] += double(a[i + k]) * double(b[i + k]);
  }
  for (; i < m; ++i) p[0] += double(a[i]) * double(b[i]);
  return (p[0] + p[1]) + (p[2] + p[3]);
}

template <class T>
void block_dots(const std::vector<const T*>& rows,
                const std::vector<std::pair<size_t, size_t>>& pairs, size_t at, size_t m,
                double* sums) {
  for (size_t k = 0; k < pairs.size(); ++k)
    sums[k] += block_dot(rows[pairs[k].first] + at, rows[pairs[k].second] + at, m);
}

// g + sum_i v_i G_i for elements [at, at + m), in that order, rounded once to T.
template <class T>
void combination(const std::vector<std::vector<T>>& G, const std::vector<T>& g, const Vector& v,
                 size_t at, size_t m, T* out) {
  for (size_t k = at; k < at + m; ++k) {
    double add = 0;
    for (size_t i = 0; i < G.size(); ++i) add += v[i] * double(G[i][k]);
    out[k] = static_cast<T>(double(g[k]) + add);
  }
}

#if defined(__x86_64__)
// Four dot products at a time (four independent chains), each in its four lanes.
__attribute__((target("avx2"))) void add_block_dots_avx2(
    const std::vector<const float*>& rows, const std::vector<std::pair<size_t, size_t>>& pairs,
    size_t at, size_t m, double* sums) {
  const size_t whole = m / 4 * 4;
  for (size_t k = 0; k < pairs.size(); k += 4) {
    const float* a[4];
    const float* b[4];
    for (size_t u = 0; u < 4; ++u) {  // the last group repeats its last pair
      const auto& pair = pairs[std::min(k + u, pairs.size() - 1)];
      a[u] = rows[pair.first] + at;
      b[u] = rows[pair.second] + at;
    }
    __m256d p[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                    _mm256_setzero_pd()};
    for (size_t i = 0; i < whole; i += 4) {
      for (size_t u = 0; u < 4; ++u) {
        const __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(a[u] + i));
        const __m256d y = _mm256_cvtps_pd(_mm_loadu_ps(b[u] + i));
        p[u] = _mm256_add_pd(p[u], _mm256_mul_pd(x, y));
      }
    }
    for (size_t u = 0; u < 4 && k + u < pairs.size(); ++u) {
      alignas(32) double l[4];
      _mm256_store_pd(l, p[u]);
      for (size_t i = whole; i < m; ++i) l[0] += double(a[u][i]) * double(b[u][i]);
      sums[k + u] += (l[0] + l[1]) + (l[2] + l[3]);
    }
  }
}

__attribute__((target("avx2"))) void add_combination_avx2(const std::vector<std::vector<float>>& G,
                                                          const std::vector<float>& g,
                                                          const Vector& v, size_t at, size_t m,
                                                          float* out) {
  const size_t whole = at + m / 4 * 4;
  for (size_t k = at; k < whole; k += 4) {
    __m256d add = _mm256_setzero_pd();
    for (size_t i = 0; i < G.size(); ++i) {
      add = _mm256_add_pd(
          add, _mm256_mul_pd(_mm256_set1_pd(v[i]), _mm256_cvtps_pd(_mm_loadu_ps(G[i].data() + k))));
    }
    _mm_storeu_ps(out + k,
                  _mm256_cvtpd_ps(_mm256_add_pd(_mm256_cvtps_pd(_mm_loadu_ps(g.data() + k)), add)));
  }
  combination(G, g, v, whole, at + m - whole, out);
}

#endif

void add_block_dots(const std::vector<const double*>& rows,
                    const std::vector<std::pair<size_t, size_t>>& pairs, size_t at, size_t m,
                    double* sums) {
  block_dots(rows, pairs, at, m, sums);
}

void add_block_dots(const std::vector<const float*>& rows,
                    const std::vector<std::pair<size_t, size_t>>& pairs, size_t at, size_t m,
                    double* sums) {
#if defined(__x86_64__)
  if (cpu_has_avx2()) return add_block_dots_avx2(rows, pairs, at, m, sums);
#endif
  block_dots(rows, pairs, at, m, sums);
}

void add_combination(const std::vector<Vector>& G, const Vector& g, const Vector& v, size_t at,
                     size_t m, double* out) {
  combination(G, g, v, at, m, out);
}

void add_combination(const std::vector<FloatVector>& G, const FloatVector& g, const Vector& v,
                     size_t at, size_t m, float* out) {
#if defined(__x86_64__)
  if (cpu_has_avx2()) return add_combination_avx2(G, g, v, at, m, out);
#endif
  combination(G, g, v, at, m, out);
}

}  // namespace

template <class T>
GemSystem gem_system(const std::vector<std::vector<T>>& G, const std::vector<T>& g) {
  const size_t t = G.size(), n = g.size();
  std::vector<const T*> rows;  // G's rows, then g
  for (const auto& row : G) rows.push_back(row.data());
  rows.push_back(g.data());
  std::vector<std::pair<size_t, size_t>> pairs;  // q's, then the lower triangle of P's
  for (size_t i = 0; i < t; ++i) pairs.emplace_back(i, t);
  for (size_t i = 0; i < t; ++i) {
    for (size_t j = 0; j <= i; ++j) pairs.emplace_back(i, j);
  }
  Vector sums(pairs.size(), 0.0);
  for (size_t at = 0; at < n && !pairs.empty(); at += kBlock)
    add_block_dots(rows, pairs, at, std::min(kBlock, n - at), sums.data());
  GemSystem s{Vector(t * t, 0.0),
              Vector(sums.begin(), sums.begin() + static_cast<std::ptrdiff_t>(t))};
  size_t k = t;
  for (size_t i = 0; i < t; ++i) {
    for (size_t j = 0; j <= i; ++j) s.P[i * t + j] = s.P[j * t + i] = sums[k++];
  }
  return s;
}

template <class T>
void gem_project_in_place(const GemSystem& system, const std::vector<std::vector<T>>& G,
                          std::vector<T>& g, double margin, double eps) {
  const size_t t = G.size();
  Vector P = system.P;
  for (size_t i = 0; i < t; ++i) P[i * t + i] += eps;
  const Vector v = solve_bounded_qp(P, system.q, Vector(t, margin));
  // One pass over the vectors; element k of g is read before it is written.
  for (size_t at = 0; at < g.size(); at += kBlock)
    add_combination(G, g, v, at, std::min(kBlock, g.size() - at), g.data());
}

template <class T>
std::vector<T> gem_project(const std::vector<std::vector<T>>& G, const std::vector<T>& g,
                           double margin, double eps) {
  std::vector<T> out = g;
  gem_project_in_place(gem_system(G, g), G, out, margin, eps);
  return out;
}

template <class T>
std::optional<std::vector<T>> agem_project(const std::vector<T>& g, const std::vector<T>& r) {
  const double gr = dot(g, r);
  if (!(gr < 0)) return std::nullopt;
  const double rr = dot(r, r);  // > 0, as g'r < 0
  std::vector<T> out(g.size());
  for (size_t k = 0; k < out.size(); ++k)
    out[k] = static_cast<T>(double(g[k]) - gr / rr * double(r[k]));
  return out;
}

#define CLBENCH_PROJECTIONS(T)                                                                   \
  template double dot(const std::vector<T>&, const std::vector<T>&);                             \
  template GemSystem gem_system(const std::vector<std::vector<T>>&, const std::vector<T>&);      \
  template void gem_project_in_place(const GemSystem&, const std::vector<std::vector<T>>&,       \
                                     std::vector<T>&, double, double);                           \
  template std::vector<T> gem_project(const std::vector<std::vector<T>>&, const std::vector<T>&, \
                                      double, double);                                           \
  template std::optional<std::vector<T>> agem_project(const std::vector<T>&, const std::vector<T>&);
CLBENCH_PROJECTIONS(float)
CLBENCH_PROJECTIONS(double)
#undef CLBENCH_PROJECTIONS

namespace {

// A float32 contiguous CPU tensor as it is, anything else converted to one.
torch::Tensor as_float_cpu(const torch::Tensor& t) {
  const auto x = t.detach();
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.is_contiguous()) return x;
  return x.to(torch::kCPU, torch::kFloat32).contiguous();
}

}  // namespace

void flatten_into(const std::vector<torch::Tensor>& tensors, const std::vector<torch::Tensor>& like,
                  FloatVector& out, float divisor) {
  size_t total = 0;
  for (const auto& p : like) total += static_cast<size_t>(p.numel());
  out.resize(total);
  size_t at = 0;
  for (size_t i = 0; i < like.size(); ++i) {
    const auto n = static_cast<size_t>(like[i].numel());
    if (i >= tensors.size() || !tensors[i].defined()) {
      std::fill_n(out.data() + at, n, 0.0f);
    } else {
      const auto t = as_float_cpu(tensors[i]);
      if (static_cast<size_t>(t.numel()) != n)
        throw Error("internal: a gradient of " + std::to_string(t.numel()) +
                    " values for a parameter of " + std::to_string(n));
      const float* from = t.data_ptr<float>();
      float* to = out.data() + at;
      if (divisor == 1) {
        std::copy_n(from, n, to);
      } else {
        for (size_t k = 0; k < n; ++k) to[k] = from[k] / divisor;
      }
    }
    at += n;
  }
}

FloatVector flatten(const std::vector<torch::Tensor>& tensors,
                    const std::vector<torch::Tensor>& like) {
  FloatVector out;
  flatten_into(tensors, like, out);
  return out;
}

void flat_gradients_into(const std::vector<torch::Tensor>& params, FloatVector& out) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) grads.push_back(p.grad());
  flatten_into(grads, params, out);
}

FloatVector flat_gradients(const std::vector<torch::Tensor>& params) {
  FloatVector out;
  flat_gradients_into(params, out);
  return out;
}

void set_gradients(const std::vector<torch::Tensor>& params, const FloatVector& flat) {
  size_t at = 0;
  for (const auto& p : params) {
    const auto n = p.numel();
    const float* from = flat.data() + at;
    auto& grad = p.mutable_grad();
    if (grad.defined() && grad.device().is_cpu() && grad.scalar_type() == torch::kFloat32 &&
        grad.is_contiguous()) {
      std::copy_n(from, n, grad.data_ptr<float>());
    } else {
      auto part = torch::from_blob(const_cast<float*>(from), {n}, torch::kFloat32)
                      .to(p.device(), p.scalar_type())
                      .view(p.sizes());
      if (grad.defined()) {
        grad.copy_(part);
      } else {
        grad = part.clone();
      }
    }
    at += static_cast<size_t>(n);
  }
}

}  // namespace clbench
