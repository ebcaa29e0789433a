// Run under `mpirun -np 2`: a 2-rank run must do the same mathematics as a 1-rank run.
// Outside mpirun (one rank) every test skips itself, so the binary also passes on its own.
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "harness/distributed/communicator.h"
#include "harness/distributed/gradient_reducer.h"
#include "harness/distributed/mpi_check.h"
#include "harness/engine/checkpoint.h"
#include "harness/engine/progress.h"
#include "harness/engine/trainer.h"
#include "harness/run/cpu_kernels.h"
#include "harness/run/execute.h"
#include "harness/run/plan.h"
#include "harness/run/session.h"
#include "tests/common/accuracy_bits.h"
#include "tests/common/conformance.h"

namespace clbench {
namespace {

Communicator* g_comm = nullptr;

RunPlan case_plan(const testing::ConformanceCase& c, int grad_shards, double lr_factor = 1) {
  auto user = testing::conformance_config(c);
  user["grad_shards"] = grad_shards;
  if (lr_factor != 1) {
    user["lr"] = plan_run(Config::flatten(user)).config.num("lr") * lr_factor;
  }
  return plan_run(Config::flatten(user));
}

struct Trained {
  torch::Tensor parameters;  // the model's and the method's trainable parameters, flattened
  std::string state;         // capture_state: every bit of the model and the method
  bool trains = true;        // false: the method trains nothing (SimpleCIL)
};

Trained train(const RunPlan& plan, Communicator& comm) {
  auto session = build_session(plan, comm);
  Progress quiet(false, false);
  train_session(*session, comm, quiet);
  std::vector<torch::Tensor> flat;
  for (const auto& p : session->model->parameters()) flat.push_back(p.detach().reshape({-1}));
  // Adapters and magnitudes live outside the model.
  for (const auto& p : session->method->trainable_parameters())
    flat.push_back(p.detach().reshape({-1}));
  return {torch::cat(flat), capture_state(*session->model, *session->method),
          !session->method->trainable_parameters().empty()};
}

// Every registered method on every tiny backbone it declares (tests/common/conformance.h).
class TwoRanks : public ::testing::TestWithParam<testing::ConformanceCase> {
 protected:
  void SetUp() override {
    if (g_comm->size() != 2) GTEST_SKIP() << "needs mpirun -np 2";
  }
};

// Two ranks sum their halves of the batch in another order than one rank sums the whole batch,
// and training magnifies that rounding by an amount that depends on the processor's kernels (a
// Xeon's MKL branch: 2.1e-4 of the largest parameter for joint on the MLP after twelve steps, 1e-5
// on an EPYC). So the gap is measured against what a real change of the arithmetic does to the
// same run on the same machine: halving the learning rate (a mean taken over ranks twice would
// do that). Rounding stays far below it (on an EPYC: at most 1.1e-5 of it, moe-adapters on the
// ViT, against the threshold of 1e-2; 6.4e-4 for joint on the MLP with the batches of 16 12-pixel
// images of the first conformance runs); a mistake is of its size.
TEST_P(TwoRanks, ParametersAfterTwelveStepsEqualOneRankWithTheSameGlobalBatch) {
  const auto plan = case_plan(GetParam(), 0);  // 2 ranks: one shard each; 1 rank: one shard
  const auto two = train(plan, *g_comm);
  LocalCommunicator local;
  // Batch norm normalises each rank's half of the batch (and a shard-coupled loss sees only it):
  // one rank computes the same with two shards (and gives the same bits, as the next test checks
  // for any shard count).
  const int shards = find_backbone(GetParam().backbone).batch_norm ||
                             find_method(GetParam().method).requirements.shard_coupled_loss
                         ? 2
                         : 0;
  if (!two.trains) {  // no learning rate to halve: what it computes must be the same bits
    if (g_comm->rank() == 0) {
      EXPECT_TRUE(
          torch::equal(two.parameters, train(case_plan(GetParam(), shards), local).parameters));
    }
    return;
  }
  // The two one-rank runs side by side: rank 0 the reference, rank 1 the halved learning rate,
  // which it then sends to rank 0.
  const auto one = train(case_plan(GetParam(), shards, g_comm->rank() == 0 ? 1 : 0.5), local);
  std::vector<torch::Tensor> half_lr = {one.parameters.clone()};
  g_comm->broadcast(half_lr, 1);
  if (g_comm->rank() != 0) return;
  EXPECT_TRUE(testing::within_rounding_of(two.parameters, one.parameters, half_lr[0]));
}

TEST_P(TwoRanks, FixedGradientShardsMakeTwoRanksBitIdenticalToOne) {
  const auto plan = case_plan(GetParam(), 2);
  const auto two = train(plan, *g_comm);
  if (g_comm->rank() != 0) return;
  LocalCommunicator local;
  const auto one = train(plan, local);
  EXPECT_TRUE(torch::equal(two.parameters, one.parameters))
      << "max difference " << (two.parameters - one.parameters).abs().max().item<double>();
  EXPECT_TRUE(two.state == one.state) << "the model or method state differs";
}

INSTANTIATE_TEST_SUITE_P(Registered, TwoRanks, ::testing::ValuesIn(testing::conformance_cases()),
                         testing::case_name);

// grad_shards = 4 and 8: each rank's block of shards is added in the tree of one rank
// (harness/engine/shard_tree.h), so 2 and 4 ranks give one rank's bits, with and without the
// shared-memory sum (ctest mpi_two_ranks*, mpi_four_ranks_shards).
TEST(ShardTree, FourAndEightShardsGiveOneRanksBitsOnTwoAndFourRanks) {
  if (g_comm->size() != 2 && g_comm->size() != 4) GTEST_SKIP() << "needs mpirun -np 2 or 4";
  for (const int shards : {4, 8}) {
    for (const char* method : {"er", "ewc", "gem", "agem", "finetune"}) {
      const auto plan = case_plan({method, "mlp"}, shards);
      const auto many = train(plan, *g_comm);
      if (g_comm->rank() != 0) continue;
      LocalCommunicator local;
      const auto one = train(plan, local);
      EXPECT_TRUE(torch::equal(many.parameters, one.parameters))
          << method << ", " << shards << " shards: max difference "
          << (many.parameters - one.parameters).abs().max().item<double>();
      EXPECT_TRUE(many.state == one.state) << method << ", " << shards << " shards";
    }
  }
}

// Buckets summed while backward runs give the bits sum_gradients gives, and a flag set on one
// rank reaches both.
TEST(TwoRanksReducer, OverlappedBucketsSumExactlyAsSumGradients) {
  if (g_comm->size() != 2) GTEST_SKIP() << "needs mpirun -np 2";
  torch::manual_seed(7);
  torch::nn::Sequential net{torch::nn::Linear(8, 32), torch::nn::Tanh(), torch::nn::Linear(32, 32),
                            torch::nn::Tanh(), torch::nn::Linear(32, 3)};
  const auto params = net->parameters();
  torch::manual_seed(100 + g_comm->rank());  // each rank its own data
  const auto x = torch::randn({6, 8});
  net->forward(x).pow(3).mean().backward();
  g_comm->sum_gradients(params);
  std::vector<torch::Tensor> expected;
  for (const auto& p : params) expected.push_back(p.grad().clone());
  for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
  GradientReducer reducer(*g_comm, params, 600);
  ASSERT_GT(reducer.bucket_count(), 2);
  reducer.arm(g_comm->rank() == 1);
  net->forward(x).pow(3).mean().backward();
  EXPECT_EQ(reducer.started_during_backward(), reducer.bucket_count());
  EXPECT_EQ(reducer.finish().item<double>(), 1.0);  // rank 1 only
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(params[i].grad().equal(expected[i])) << "parameter " << i;
}

// The same run with the reduction overlapped and not: the same bits on two ranks.
TEST(TwoRanksReducer, OverlapDoesNotChangeARun) {
  if (g_comm->size() != 2) GTEST_SKIP() << "needs mpirun -np 2";
  std::vector<std::string> states;
  for (bool overlap : {true, false}) {
    auto user = testing::conformance_config({"er", "mlp"});
    user["overlap_reduction"] = overlap;
    states.push_back(train(plan_run(Config::flatten(user)), *g_comm).state);
  }
  EXPECT_TRUE(states[0] == states[1]);
}

// A whole run on real data, evaluation and replay memory included: with two gradient shards, two
// ranks compute the one rank's numbers exactly.
TEST(TwoRanksSplitFmnist, EveryAccuracyEqualsOneRanksWithTwoGradientShards) {
  if (g_comm->size() != 2) GTEST_SKIP() << "needs mpirun -np 2";
  const auto plan = plan_run({{"benchmark", "split-fmnist"},
                              {"method", "er"},
                              {"threads", 1},
                              {"epochs", 1},
                              {"grad_shards", 2},
                              {"out", ::testing::TempDir() + "mpi-split-fmnist"}});
  Progress quiet(false, false);
  const auto two = execute(plan, *g_comm, quiet);
  if (g_comm->rank() != 0) return;
  LocalCommunicator local;
  const auto one = execute(plan, local, quiet);
  EXPECT_EQ(testing::bits(two.acc_class_il), testing::bits(one.acc_class_il));
  EXPECT_EQ(testing::bits(two.acc_task_il), testing::bits(one.acc_task_il));
  EXPECT_EQ(two.memory_samples, one.memory_samples);
}

TEST(TwoRanksStop, AStopSeenByOneRankStopsBothAfterTheSameStepAndResumesToTheFullRun) {
  if (g_comm->size() != 2) GTEST_SKIP() << "needs mpirun -np 2";
  auto plan_in = [](const std::string& dir) {
    nlohmann::json user = {{"benchmark", "synthetic"},
                           {"method", "ewc"},
                           {"epochs", 1},
                           {"threads", 1},
                           {"synthetic.classes", 4},
                           {"synthetic.train_per_class", 80},
                           {"out", ::testing::TempDir() + "mpi-stop-" + dir}};
    return plan_run(user);
  };
  Progress quiet(false, false);
  RunOptions force;
  const auto full = execute(plan_in("full"), *g_comm, quiet, force);
  const auto plan = plan_in("stopped");
  std::filesystem::remove(checkpoint_path(plan));
  g_comm->barrier();
  int polls = 0;
  RunOptions stop;
  // Only rank 1 is signalled, at its 7th step (task 2, step 2 of 5).
  stop.stop_requested = [&] { return ++polls == 7 && g_comm->rank() == 1; };
  EXPECT_THROW(execute(plan, *g_comm, quiet, stop), Interrupted);
  EXPECT_EQ(polls, 7) << "rank " << g_comm->rank() << " did not stop after the same step";
  RunOptions resume;
  resume.resume = true;
  const auto resumed = execute(plan, *g_comm, quiet, resume);
  EXPECT_EQ(testing::bits(resumed.acc_class_il), testing::bits(full.acc_class_il));
  EXPECT_EQ(testing::bits(resumed.acc_task_il), testing::bits(full.acc_task_il));
}

// A checkpoint written by two ranks, resumed by one: with fixed grad_shards the numbers are the
// two-rank run's, and the result records both world sizes.
TEST(TwoRanksStop, ATwoRankCheckpointResumedOnOneRankGivesTheSameNumbers) {
  if (g_comm->size() != 2) GTEST_SKIP() << "needs mpirun -np 2";
  const auto plan = plan_run(nlohmann::json{{"benchmark", "synthetic"},
                                            {"method", "ewc"},
                                            {"epochs", 1},
                                            {"threads", 1},
                                            {"grad_shards", 2},
                                            {"synthetic.classes", 4},
                                            {"synthetic.train_per_class", 80},
                                            {"out", ::testing::TempDir() + "mpi-two-then-one"}});
  Progress quiet(false, false);
  const auto full = execute(plan, *g_comm, quiet);
  int polls = 0;
  RunOptions stop;
  stop.stop_requested = [&] { return ++polls == 7; };  // task 2, step 2 of 5
  EXPECT_THROW(execute(plan, *g_comm, quiet, stop), Interrupted);
  g_comm->barrier();
  if (g_comm->is_root()) {
    LocalCommunicator alone;
    RunOptions resume;
    resume.resume = true;
    const auto resumed = execute(plan, alone, quiet, resume);
    EXPECT_EQ(testing::bits(resumed.acc_class_il), testing::bits(full.acc_class_il));
    EXPECT_EQ(testing::bits(resumed.acc_task_il), testing::bits(full.acc_task_il));
    EXPECT_EQ(resumed.world_sizes, (std::vector<int64_t>{2, 1}));
  }
  g_comm->barrier();
}

// run_one on two ranks: rank 0 alone looks at the files, and both ranks act on its verdict
// (train and write, skip a complete result, refuse one of other settings).
TEST(TwoRanksRunOne, RankZerosVerdictOnTheFilesIsEveryRanks) {
  if (g_comm->size() != 2) GTEST_SKIP() << "needs mpirun -np 2";
  const std::string out = ::testing::TempDir() + "mpi-run-one";
  if (g_comm->is_root()) std::filesystem::remove_all(out);
  g_comm->barrier();
  auto plan_with = [&](double lr) {
    return plan_run(nlohmann::json{{"benchmark", "synthetic"},
                                   {"method", "finetune"},
                                   {"epochs", 1},
                                   {"threads", 1},
                                   {"lr", lr},
                                   {"synthetic.classes", 4},
                                   {"synthetic.train_per_class", 40},
                                   {"out", out}});
  };
  const RunOptions options;
  EXPECT_TRUE(run_one(plan_with(0.05), *g_comm, options, false));
  EXPECT_TRUE(std::filesystem::exists(plan_with(0.05).result_path));
  EXPECT_FALSE(run_one(plan_with(0.05), *g_comm, options, false)) << "complete: skipped";
  EXPECT_THROW(run_one(plan_with(0.1), *g_comm, options, false), RunRefused);
  EXPECT_TRUE(run_one(plan_with(0.1), *g_comm, options, true)) << "--force replaces it";
}

// MPI_ERRORS_RETURN is installed: a failing MPI call returns its code, which check_mpi turns into
// an Error naming the call (under MPI's default handler the job would abort instead).
TEST(MpiErrors, AFailingCallBecomesAnErrorNamingIt) {
  if (g_comm->size() < 2) GTEST_SKIP() << "needs mpirun";
  int value = 0;
  try {
    check_mpi(MPI_Bcast(&value, -1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
    FAIL() << "a negative count was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MPI error in MPI_Bcast"), std::string::npos) << e.what();
  }
}

TEST(Collectives, AllreduceSumsAndBroadcastCopiesInFusedBuckets) {
  // Also run on 3 ranks: uneven slices of the shared-memory sum.
  if (g_comm->size() < 2) GTEST_SKIP() << "needs mpirun -np 2 or more";
  const int n = g_comm->size();
  const double r = g_comm->rank();
  const double total = n * (n + 1) / 2.0;  // sum of rank + 1
  // Mixed dtypes, odd lengths, a non-contiguous tensor, and a tensor larger than one 32 MiB bucket.
  std::vector<torch::Tensor> t = {torch::full({3}, r + 1.0, torch::kFloat32),
                                  torch::full({2, 2}, r + 1.0, torch::kFloat64),
                                  torch::full({9'000'000}, r + 1.0, torch::kFloat32),
                                  torch::full({5}, static_cast<int64_t>(r + 1), torch::kInt64),
                                  torch::full({7}, static_cast<uint8_t>(r + 1), torch::kUInt8),
                                  torch::full({3, 5}, r + 1.0, torch::kFloat32).t()};
  g_comm->allreduce_sum(t);
  for (const auto& x : t) {
    EXPECT_TRUE(torch::all(x.to(torch::kFloat64) == total).item<bool>()) << x.sizes();
  }
  EXPECT_EQ(t.back().sizes(), (std::vector<int64_t>{5, 3}));
  // Values whose float sum depends on the order: every rank must still get the same bits.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(17 + g_comm->rank());
  std::vector<torch::Tensor> noisy = {torch::randn({1001}, gen) * 1e3, torch::randn({17}, gen)};
  g_comm->allreduce_sum(noisy);
  std::vector<torch::Tensor> root = {noisy[0].clone(), noisy[1].clone()};
  g_comm->broadcast(root, 0);
  EXPECT_TRUE(torch::equal(root[0], noisy[0]) && torch::equal(root[1], noisy[1]))
      << "rank " << g_comm->rank() << " summed to different bits than rank 0";
  std::vector<torch::Tensor> b = {torch::full({4}, r, torch::kFloat32)};
  g_comm->broadcast(b, 1);
  EXPECT_TRUE(torch::all(b[0] == 1.0).item<bool>());
}

}  // namespace
}  // namespace clbench

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  clbench::apply_cpu_kernels(clbench::kDefaultCpuKernels);  // before any tensor operation
  auto comm = clbench::make_communicator(&argc, &argv);
  clbench::g_comm = comm.get();
  if (comm->rank() != 0) {  // one report, from rank 0
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  auto flag = torch::full({1}, static_cast<double>(failed != 0), torch::kFloat64);
  failed = comm->sum(flag).item<double>() > 0;
  return failed;
}
