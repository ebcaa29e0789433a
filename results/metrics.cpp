#include "results/metrics.h"

#include <algorithm>
#include <string>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

// Returns T after checking that R is non-empty and square.
size_t checked_size(const Matrix& R) {
  if (R.empty()) throw Error("accuracy matrix R is empty: expected T x T with T >= 1");
  const size_t T = R.size();
  for (size_t i = 0; i < T; ++i) {
    if (R[i].size() != T) {
      throw Error("accuracy matrix R is not square: row " + std::to_string(i) + " has " +
                  std::to_string(R[i].size()) + " entries, expected " + std::to_string(T));
    }
  }
  return T;
}

template <typename V>
void check_length(const char* name, const V& v, size_t T) {
  if (v.size() != T) {
    throw Error(std::string(name) + " has " + std::to_string(v.size()) +
                " entries, expected T = " + std::to_string(T) + " (the size of R)");
  }
}

void check_counts(const std::vector<int64_t>& test_counts, size_t T) {
  check_length("test_counts", test_counts, T);
  for (size_t j = 0; j < T; ++j) {
    if (test_counts[j] < 0) {
      throw Error("test_counts[" + std::to_string(j) + "] is " + std::to_string(test_counts[j]) +
                  ", expected a non-negative count");
    }
  }
}

// Sample-weighted accuracy over tasks 0..last after training task `row`.
double weighted_row(const Matrix& R, const std::vector<int64_t>& n, size_t row, size_t last) {
  double correct = 0, total = 0;
  for (size_t j = 0; j <= last; ++j) {
    correct += R[row][j] * static_cast<double>(n[j]);
    total += static_cast<double>(n[j]);
  }
  if (total <= 0) {
    throw Error("test_counts of tasks 0.." + std::to_string(last) +
                " sum to 0: the weighted accuracy needs at least one test sample");
  }
  return correct / total;
}

}  // namespace

// Final average accuracy, mean over tasks of the last row (Lopez-Paz & Ranzato 2017, GEM "ACC").
double final_accuracy(const Matrix& R) {
  return accuracy_curve(R).back();
}

std::vector<double> accuracy_curve(const Matrix& R) {
  const size_t T = checked_size(R);
  std::vector<double> curve(T);
  for (size_t i = 0; i < T; ++i) {
    double sum = 0;
    for (size_t j = 0; j <= i; ++j) sum += R[i][j];
    curve[i] = sum / static_cast<double>(i + 1);
  }
  return curve;
}

// Accuracy over all test samples after the last task (SD-LoRA / PILOT "Acc", top1 over seen data).
double final_accuracy_weighted(const Matrix& R, const std::vector<int64_t>& test_counts) {
  const size_t T = checked_size(R);
  check_counts(test_counts, T);
  return weighted_row(R, test_counts, T - 1, T - 1);
}

// Average anytime accuracy: mean over t of the seen-sample accuracy after task t (SD-LoRA / PILOT).
double average_anytime_accuracy(const Matrix& R, const std::vector<int64_t>& test_counts) {
  const size_t T = checked_size(R);
  check_counts(test_counts, T);
  double sum = 0;
  for (size_t t = 0; t < T; ++t) sum += weighted_row(R, test_counts, t, t);
  return sum / static_cast<double>(T);
}

// Average forgetting F_T, best accuracy since the task was learnt minus final accuracy (Chaudhry et
// al. 2018, RWalk; the rows before task j trained it are not its accuracy, as in Avalanche and
// Mammoth).
double forgetting(const Matrix& R) {
  const size_t T = checked_size(R);
  if (T == 1) return 0;
  double sum = 0;
  for (size_t j = 0; j + 1 < T; ++j) {
    double best = R[j][j];
    for (size_t l = j + 1; l + 1 < T; ++l) best = std::max(best, R[l][j]);
    sum += best - R[T - 1][j];
  }
  return sum / static_cast<double>(T - 1);
}

// Backward transfer BWT (Lopez-Paz & Ranzato 2017, GEM).
double backward_transfer(const Matrix& R) {
  const size_t T = checked_size(R);
  if (T == 1) return 0;
  double sum = 0;
  for (size_t j = 0; j + 1 < T; ++j) sum += R[T - 1][j] - R[j][j];
  return sum / static_cast<double>(T - 1);
}

// Forward transfer FWT against the untrained model's accuracy (Lopez-Paz & Ranzato 2017, GEM).
double forward_transfer(const Matrix& R, const std::vector<double>& init) {
  const size_t T = checked_size(R);
  check_length("init", init, T);
  if (T == 1) return 0;
  double sum = 0;
  for (size_t j = 1; j < T; ++j) sum += R[j - 1][j] - init[j];
  return sum / static_cast<double>(T - 1);
}

Metrics compute_metrics(const Matrix& R, const std::vector<double>& init,
                        const std::vector<int64_t>& test_counts) {
  const size_t T = checked_size(R);
  check_length("init", init, T);
  check_counts(test_counts, T);
  Metrics m;
  m.final_acc = final_accuracy(R);
  m.final_acc_weighted = final_accuracy_weighted(R, test_counts);
  m.aaa = average_anytime_accuracy(R, test_counts);
  m.forgetting = forgetting(R);
  m.bwt = backward_transfer(R);
  m.fwt = forward_transfer(R, init);
  return m;
}

}  // namespace clbench
