#pragma once
// Gradient projections of GEM (Lopez-Paz & Ranzato 2017, Sec. 3, Eq. 10-11) and A-GEM (Chaudhry
// et al. 2019, Eq. 11). The gradients are flat vectors of their own precision (float32 from the
// models, as GEM's official code keeps them; float64 in the tests); every product and sum widens
// them to float64, in a fixed order, so every rank computes the same bits.
#include <cstdint>
#include <optional>
#include <vector>

#include <torch/types.h>

namespace clbench {

using Vector = std::vector<double>;
using FloatVector = std::vector<float>;

// argmin_v 1/2 v'Pv + q'v subject to v >= lower (elementwise), P symmetric positive definite
// (n x n, row-major): an exact primal active-set solve (Lawson-Hanson's, for a quadratic
// objective), finite for positive definite P.
Vector solve_bounded_qp(const Vector& P, const Vector& q, const Vector& lower);

// G G' (t x t, row-major) and q = G g in float64, from one blocked pass over the vectors.
struct GemSystem {
  Vector P, q;
};
template <class T>
GemSystem gem_system(const std::vector<std::vector<T>>& G, const std::vector<T>& g);

// GEM's projection as its official code computes it (project2cone2): with G the rows of the
// past tasks' memory gradients, P = G G' + eps I, q = G g and v* the solution of the QP above with
// lower bound `margin`, the projected gradient is g + G'v* (in float64, rounded once to T). With
// eps = 0 it satisfies every constraint <g~, g_k> >= 0 (Eq. 10); the official eps 1e-3 keeps P
// invertible and leaves <g~, g_k> = mu_k - eps v*_k (mu the bounds' multipliers).
// gem_project_in_place writes g~ over g (`system` is gem_system(G, g)).
template <class T>
void gem_project_in_place(const GemSystem& system, const std::vector<std::vector<T>>& G,
                          std::vector<T>& g, double margin, double eps);
template <class T>
std::vector<T> gem_project(const std::vector<std::vector<T>>& G, const std::vector<T>& g,
                           double margin, double eps);

// A-GEM: g - (g'r / r'r) r when g'r < 0; none when g already agrees with r (g stays).
template <class T>
std::optional<std::vector<T>> agem_project(const std::vector<T>& g, const std::vector<T>& r);

template <class T>
double dot(const std::vector<T>& a, const std::vector<T>& b);

// The tensors (undefined ones count as zeros of `like`'s shapes) end to end as float32 in `out`,
// whose storage is reused (GEM's official code flattens every parameter's gradient this way), each
// value divided by `divisor` (a float32 division, as ATen's, in the same pass), and back into the
// .grad of `params`.
void flatten_into(const std::vector<torch::Tensor>& tensors, const std::vector<torch::Tensor>& like,
                  FloatVector& out, float divisor = 1);
FloatVector flatten(const std::vector<torch::Tensor>& tensors,
                    const std::vector<torch::Tensor>& like);
void set_gradients(const std::vector<torch::Tensor>& params, const FloatVector& flat);
// The .grad of `params` as one float32 vector (flatten of them).
void flat_gradients_into(const std::vector<torch::Tensor>& params, FloatVector& out);
FloatVector flat_gradients(const std::vector<torch::Tensor>& params);

}  // namespace clbench
