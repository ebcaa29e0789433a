#include "results/metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using testing::expect_error;

// R[i][j]: accuracy on task j after training task i.
//            task 0  task 1  task 2
//   after 0:   90      10       5
//   after 1:   95      80      20
//   after 2:   60      40      85
// init = {10, 15, 8}, test counts n = {100, 200, 300}.
const Matrix kR = {{90, 10, 5}, {95, 80, 20}, {60, 40, 85}};
const std::vector<double> kInit = {10, 15, 8};
const std::vector<int64_t> kCounts = {100, 200, 300};

TEST(Metrics, FinalAccuracyIsMeanOfLastRow) {
  // (60 + 40 + 85) / 3 = 185 / 3
  EXPECT_DOUBLE_EQ(final_accuracy(kR), 185.0 / 3);
}

TEST(Metrics, FinalAccuracyWeightedUsesTestCounts) {
  // (60*100 + 40*200 + 85*300) / 600 = (6000 + 8000 + 25500) / 600 = 39500 / 600
  EXPECT_DOUBLE_EQ(final_accuracy_weighted(kR, kCounts), 39500.0 / 600);
}

TEST(Metrics, AverageAnytimeAccuracyWeightsSeenSamples) {
  // A_0 = 90
  // A_1 = (95*100 + 80*200) / 300 = 25500 / 300 = 85
  // A_2 = 39500 / 600 = 395 / 6
  // AAA = (90 + 85 + 395/6) / 3 = (540 + 510 + 395) / 18 = 1445 / 18
  EXPECT_DOUBLE_EQ(average_anytime_accuracy(kR, kCounts), 1445.0 / 18);
}

TEST(Metrics, ForgettingUsesBestEarlierAccuracy) {
  // task 0: max(90, 95) - 60 = 35; task 1: max(10, 80) - 40 = 40; F = (35 + 40) / 2
  EXPECT_DOUBLE_EQ(forgetting(kR), 37.5);
}

TEST(Metrics, BackwardTransferUsesAccuracyRightAfterTraining) {
  // ((60 - 90) + (40 - 80)) / 2 = -70 / 2
  EXPECT_DOUBLE_EQ(backward_transfer(kR), -35.0);
}

TEST(Metrics, ForwardTransferComparesWithInit) {
  // ((R[0][1] - init[1]) + (R[1][2] - init[2])) / 2 = ((10 - 15) + (20 - 8)) / 2 = 7 / 2
  EXPECT_DOUBLE_EQ(forward_transfer(kR, kInit), 3.5);
}

TEST(Metrics, ComputeMetricsFillsEveryField) {
  const Metrics m = compute_metrics(kR, kInit, kCounts);
  EXPECT_DOUBLE_EQ(m.final_acc, 185.0 / 3);
  EXPECT_DOUBLE_EQ(m.final_acc_weighted, 39500.0 / 600);
  EXPECT_DOUBLE_EQ(m.aaa, 1445.0 / 18);
  EXPECT_DOUBLE_EQ(m.forgetting, 37.5);
  EXPECT_DOUBLE_EQ(m.bwt, -35.0);
  EXPECT_DOUBLE_EQ(m.fwt, 3.5);
}

TEST(Metrics, SingleTask) {
  const Matrix R = {{42}};
  const Metrics m = compute_metrics(R, {10}, {5});
  EXPECT_DOUBLE_EQ(m.final_acc, 42);
  EXPECT_DOUBLE_EQ(m.final_acc_weighted, 42);
  EXPECT_DOUBLE_EQ(m.aaa, 42);
  EXPECT_DOUBLE_EQ(m.forgetting, 0);
  EXPECT_DOUBLE_EQ(m.bwt, 0);
  EXPECT_DOUBLE_EQ(m.fwt, 0);
}

TEST(Metrics, RejectsNonSquareMatrix) {
  const Matrix R = {{1, 2, 3}, {4, 5}, {6, 7, 8}};
  expect_error([&] { compute_metrics(R, kInit, kCounts); }, {"square", "row 1", "2", "3"});
  expect_error([&] { final_accuracy(R); }, {"square"});
}

TEST(Metrics, RejectsEmptyMatrix) {
  expect_error([] { compute_metrics({}, {}, {}); }, {"empty"});
}

TEST(Metrics, RejectsWrongInitSize) {
  expect_error([] { compute_metrics(kR, {1, 2}, kCounts); }, {"init", "2", "T = 3"});
}

TEST(Metrics, RejectsWrongTestCountsSize) {
  expect_error([] { compute_metrics(kR, kInit, {1, 2, 3, 4}); }, {"test_counts", "4", "T = 3"});
}

TEST(Metrics, RejectsNegativeTestCount) {
  expect_error([] { compute_metrics(kR, kInit, {100, -1, 300}); }, {"test_counts[1]", "-1"});
}

TEST(Metrics, RejectsTestCountsWithoutSamples) {
  expect_error([] { compute_metrics(kR, kInit, {0, 0, 0}); }, {"test_counts"});
  // The weighted accuracy after task 0 is undefined when task 0 has no test samples.
  expect_error([] { average_anytime_accuracy(kR, {0, 10, 10}); }, {"test_counts", "0..0"});
}

}  // namespace
}  // namespace clbench
