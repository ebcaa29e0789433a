#pragma once
// Continual-learning metrics over an accuracy matrix R[i][j] (percent): accuracy on task j after
// training task i (Lopez-Paz & Ranzato 2017). Torch-free so tests and the leaderboard stay light.
#include <cstdint>
#include <vector>

namespace clbench {

using Matrix = std::vector<std::vector<double>>;

struct Metrics {
  double final_acc = 0;  // (1/T) sum_j R[T][j]
  double final_acc_weighted =
      0;                  // accuracy over all test samples of tasks 1..T (PILOT/SD-LoRA "Acc")
  double aaa = 0;         // mean over t of the sample-weighted accuracy on tasks 1..t after t
  double forgetting = 0;  // Chaudhry et al. 2018, F_T
  double bwt = 0;         // Lopez-Paz & Ranzato 2017
  double fwt = 0;         // Lopez-Paz & Ranzato 2017, against the random-init accuracy b_j
};

double final_accuracy(const Matrix& R);
// The accuracy on the tasks seen so far after each task: element i is (1/(i+1)) sum_{j<=i} R[i][j],
// so its last element is final_accuracy(R).
std::vector<double> accuracy_curve(const Matrix& R);
double final_accuracy_weighted(const Matrix& R, const std::vector<int64_t>& test_counts);
double average_anytime_accuracy(const Matrix& R, const std::vector<int64_t>& test_counts);
double forgetting(const Matrix& R);
double backward_transfer(const Matrix& R);
double forward_transfer(const Matrix& R, const std::vector<double>& init);

// Validates shapes (square R, sizes T) and throws clbench::Error naming what is wrong.
Metrics compute_metrics(const Matrix& R, const std::vector<double>& init,
                        const std::vector<int64_t>& test_counts);

}  // namespace clbench
