#include "methods/gradient_projection.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <torch/torch.h>

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

double dot(const Vector& a, const Vector& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

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

GemSystem gem_system(const std::vector<Vector>& G, const Vector& g) {
  const size_t t = G.size(), n = g.size();
  GemSystem s{Vector(t * t, 0.0), Vector(t, 0.0)};
  // Block by block, so that each vector is read from memory once (the vectors are megabytes, and
  // the products memory-bound); four partial sums per block keep the additions pipelined.
  constexpr size_t kBlock = 1024;
  const auto block_dot = [](const double* a, const double* b, size_t m) {
    double p[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
      for (size_t k = 0; k < 4; ++k) p[k] += a[i + k] * b[i + k];
    }
    for (; i < m; ++i) p[0] += a[i] * b[i];
    return (p[0] + p[1]) + (p[2] + p[3]);
  };
  for (size_t at = 0; at < n; at += kBlock) {
    const size_t m = std::min(kBlock, n - at);
    for (size_t i = 0; i < t; ++i) {
      s.q[i] += block_dot(G[i].data() + at, g.data() + at, m);
      for (size_t j = 0; j <= i; ++j)
        s.P[i * t + j] += block_dot(G[i].data() + at, G[j].data() + at, m);
    }
  }
  for (size_t i = 0; i < t; ++i) {
    for (size_t j = 0; j < i; ++j) s.P[j * t + i] = s.P[i * t + j];
  }
  return s;
}

Vector gem_project(const GemSystem& system, const std::vector<Vector>& G, const Vector& g,
                   double margin, double eps) {
  const size_t t = G.size();
  Vector P = system.P;
  for (size_t i = 0; i < t; ++i) P[i * t + i] += eps;
  const Vector v = solve_bounded_qp(P, system.q, Vector(t, margin));
  Vector out = g;
  for (size_t k = 0; k < out.size(); ++k) {  // one pass over the vectors
    double add = 0;
    for (size_t i = 0; i < t; ++i) add += v[i] * G[i][k];
    out[k] += add;
  }
  return out;
}

Vector gem_project(const std::vector<Vector>& G, const Vector& g, double margin, double eps) {
  return gem_project(gem_system(G, g), G, g, margin, eps);
}

Vector flatten(const std::vector<torch::Tensor>& tensors, const std::vector<torch::Tensor>& like) {
  Vector out;
  for (size_t i = 0; i < like.size(); ++i) {
    const auto n = static_cast<size_t>(like[i].numel());
    if (i >= tensors.size() || !tensors[i].defined()) {
      out.insert(out.end(), n, 0.0);
      continue;
    }
    const auto t = tensors[i].detach().to(torch::kCPU, torch::kFloat64).contiguous();
    out.insert(out.end(), t.data_ptr<double>(), t.data_ptr<double>() + n);
  }
  return out;
}

Vector flat_gradients(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) grads.push_back(p.grad());
  return flatten(grads, params);
}

void set_gradients(const std::vector<torch::Tensor>& params, const Vector& flat) {
  size_t at = 0;
  for (const auto& p : params) {
    const auto n = p.numel();
    auto part = torch::from_blob(const_cast<double*>(flat.data() + at), {n}, torch::kFloat64)
                    .to(p.device(), p.scalar_type())
                    .view(p.sizes());
    if (p.grad().defined()) {
      p.mutable_grad().copy_(part);
    } else {
      p.mutable_grad() = part.clone();
    }
    at += static_cast<size_t>(n);
  }
}

Vector agem_project(const Vector& g, const Vector& r) {
  const double gr = dot(g, r), rr = dot(r, r);
  if (!(gr < 0) || rr == 0) return g;
  Vector out = g;
  for (size_t k = 0; k < out.size(); ++k) out[k] -= gr / rr * r[k];
  return out;
}

}  // namespace clbench
