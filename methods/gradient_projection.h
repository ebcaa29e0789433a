#pragma once
// Gradient projections of GEM (Lopez-Paz & Ranzato 2017, Sec. 3, Eq. 10-11) and A-GEM (Chaudhry
// et al. 2019, Eq. 11), on flat float64 vectors so every rank computes the same bits.
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace clbench {

using Vector = std::vector<double>;

// argmin_v 1/2 v'Pv + q'v subject to v >= lower (elementwise), P symmetric positive definite
// (n x n, row-major): an exact primal active-set solve (Lawson-Hanson's, for a quadratic
// objective), finite for positive definite P.
Vector solve_bounded_qp(const Vector& P, const Vector& q, const Vector& lower);

// GEM's projection as its official code computes it (project2cone2): with G the rows of the
// past tasks' memory gradients, P = G G' + eps I, q = G g and v* the solution of the QP above with
// lower bound `margin`, the projected gradient is g + G'v*. With eps = 0 it satisfies every
// constraint <g~, g_k> >= 0 (Eq. 10); the official eps 1e-3 keeps P invertible and leaves
// <g~, g_k> = mu_k - eps v*_k (mu the bounds' multipliers).
Vector gem_project(const std::vector<Vector>& G, const Vector& g, double margin, double eps);

// G G' (t x t, row-major) and q = G g, from one blocked pass over the vectors.
struct GemSystem {
  Vector P, q;
};
GemSystem gem_system(const std::vector<Vector>& G, const Vector& g);
// gem_project with G G' and G g already computed.
Vector gem_project(const GemSystem& system, const std::vector<Vector>& G, const Vector& g,
                   double margin, double eps);

// A-GEM: g - (g'r / r'r) r when g'r < 0, else g unchanged.
Vector agem_project(const Vector& g, const Vector& r);

double dot(const Vector& a, const Vector& b);

// The tensors (undefined ones count as zeros of `like`'s shapes) as one float64 vector, and back
// into the .grad of `params` (GEM's official code flattens every parameter's gradient this way).
Vector flatten(const std::vector<torch::Tensor>& tensors, const std::vector<torch::Tensor>& like);
void set_gradients(const std::vector<torch::Tensor>& params, const Vector& flat);
// The .grad of `params` as one float64 vector (flatten of them).
Vector flat_gradients(const std::vector<torch::Tensor>& params);

}  // namespace clbench
