// Permuted and rotated (Fashion-)MNIST: the transforms equal their references (GEM's torch draws,
// PIL's rotate), the streams share their classes in domain-il and offset them otherwise, and
// domain-il refuses the benchmarks and methods that assume a class belongs to one task.
#include <set>

#include <gtest/gtest.h>

#include "datasets/benchmarks/mnist_files.h"
#include "datasets/benchmarks/pixel_maps.h"
#include "support.h"
#include "tests/common/accuracy_bits.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace domain_testing {

using testing::setup;
using testing::TempDir;

// torch.manual_seed(seed); torch.randperm(784) per task (torch 2.11, as GEM's
// data/mnist_permutations.py draws them): the first 8 entries of tasks 1 and 2.
TEST(PixelMaps, PermutationsAreTheTorchDrawsOfGem) {
  const auto maps = permutation_maps(28, 2, 0, false);
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(std::vector<int64_t>(maps[0].begin(), maps[0].begin() + 8),
            (std::vector<int64_t>{60, 361, 167, 578, 107, 772, 313, 626}));
  EXPECT_EQ(std::vector<int64_t>(maps[1].begin(), maps[1].begin() + 8),
            (std::vector<int64_t>{141, 187, 59, 448, 544, 748, 568, 133}));
  auto sorted = maps[1];
  std::sort(sorted.begin(), sorted.end());
  for (int64_t p = 0; p < 784; ++p) ASSERT_EQ(sorted[static_cast<size_t>(p)], p);
  const auto kept = permutation_maps(28, 2, 0, true);  // van de Ven's first task unpermuted
  for (int64_t p = 0; p < 784; ++p) ASSERT_EQ(kept[0][static_cast<size_t>(p)], p);
  EXPECT_EQ(kept[1], maps[0]);
}

// Pillow 11.0 Image.rotate(angle) of a 28x28 image whose pixels hold their own index: the filled
// (outside) pixels, sum over p of (p + 1)(source + 1) with source -1 where filled, and a few rows.
TEST(PixelMaps, RotationsArePilsRotate) {
  struct Reference {
    double degrees;
    int64_t filled, checksum;
    std::vector<int64_t> at400;
  };
  for (const auto& r : std::vector<Reference>{{30.0, 120, 126245270, {316, 345, 346, 375, 376}},
                                              {100.5, 60, 105580930, {238, 266, 294, 321, 349}},
                                              {9.7, 56, 145633200, {372, 373, 374, 403, 404}},
                                              {171.3, 52, 78785740, {355, 354, 353, 380, 379}}}) {
    const auto map = rotation_map(28, r.degrees);
    int64_t filled = 0, checksum = 0;
    for (size_t p = 0; p < map.size(); ++p) {
      filled += map[p] < 0;
      checksum += static_cast<int64_t>(p + 1) * (map[p] + 1);
    }
    EXPECT_EQ(filled, r.filled) << r.degrees;
    EXPECT_EQ(checksum, r.checksum) << r.degrees;
    EXPECT_EQ(std::vector<int64_t>(map.begin() + 400, map.begin() + 405), r.at400) << r.degrees;
  }
  const auto quarter = rotation_map(28, 90);  // counter-clockwise: out[y][x] = in[x][27 - y]
  for (int64_t y = 0; y < 28; ++y)
    for (int64_t x = 0; x < 28; ++x) ASSERT_EQ(quarter[y * 28 + x], x * 28 + (27 - y));
  const auto none = rotation_map(28, 0);
  for (int64_t p = 0; p < 784; ++p) ASSERT_EQ(none[static_cast<size_t>(p)], p);
}

TEST(PixelMaps, RotationAnglesAreOnePerStratum) {
  const auto angles = rotation_angles(20, 0, 180, 3);
  ASSERT_EQ(angles.size(), 20u);
  for (size_t t = 0; t < angles.size(); ++t) {
    EXPECT_GE(angles[t], 9.0 * static_cast<double>(t));
    EXPECT_LT(angles[t], 9.0 * static_cast<double>(t + 1));
  }
  EXPECT_EQ(angles, rotation_angles(20, 0, 180, 3));
  EXPECT_NE(angles, rotation_angles(20, 0, 180, 4));
}

nlohmann::json stream_user(const TempDir& dir, const std::string& benchmark,
                           const std::string& scenario) {
  testing::write_idx_data(dir / "data", 3, false);
  return {{"benchmark", benchmark},
          {"method", "finetune"},
          {"scenario", scenario},
          {"data_root", (dir / "data").string()},
          {"domain.tasks", 3},
          {"epochs", 1},
          {"threads", 1}};
}

// Domain-IL: every task is the whole dataset (all 10 classes, range [0, 10)) through its own map;
// class-IL: task t's labels are y + 10 t.
TEST(DomainStreams, TasksShareTheirClassesInDomainIlAndOffsetThemOtherwise) {
  TempDir dir;
  const auto s = setup(stream_user(dir, "permuted-fmnist", "domain-il"));
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 3);
  EXPECT_EQ(stream.num_classes(), 10);
  const auto maps = permutation_maps(28, 3, 0, false);
  const auto raw = read_idx_split((dir / "data").string(), "train", "");
  const int64_t n = 30;  // 3 images of each of the 10 classes
  for (const auto& t : stream.tasks) {
    EXPECT_EQ(t.class_begin, 0);
    EXPECT_EQ(t.class_end, 10);
    ASSERT_EQ(static_cast<int64_t>(t.train.size()), n);
    const int64_t j = 7, i = t.train[static_cast<size_t>(j)];
    EXPECT_EQ(i, t.index * n + j);
    EXPECT_EQ(stream.train_set->label(i), j % 10);
    const auto base = raw->images({j}).reshape({-1});
    const auto seen = stream.train_set->images({i}).reshape({-1});
    const auto& map = maps[static_cast<size_t>(t.index)];
    for (int64_t p = 0; p < 784; ++p) {
      ASSERT_EQ(seen[p].item<int>(), base[map[static_cast<size_t>(p)]].item<int>())
          << "task " << t.index << " pixel " << p;
    }
  }
  const auto c = setup(stream_user(dir, "rotated-fmnist", "class-il"));
  ASSERT_EQ(c->stream->num_tasks(), 3);
  EXPECT_EQ(c->stream->num_classes(), 30);
  for (const auto& t : c->stream->tasks) {
    EXPECT_EQ(t.class_begin, 10 * t.index);
    EXPECT_EQ(c->stream->train_set->label(t.train[4]), 10 * t.index + 4);
  }
}

TEST(DomainStreams, DomainIlRefusesClassSplitsAndMethodsOfOneTaskPerClass) {
  TempDir dir;
  auto user = stream_user(dir, "split-fmnist", "domain-il");
  user.erase("domain.tasks");
  testing::expect_error([&] { testing::plan(user); },
                        {"scenario domain-il needs a benchmark whose tasks share their classes",
                         "permuted-fmnist", "'split-fmnist'"});
  user = stream_user(dir, "permuted-fmnist", "domain-il");
  user["method"] = "icarl";
  testing::expect_error([&] { testing::plan(user); },
                        {"method 'icarl' assumes every class belongs to one task", "er, ewc"});
}

// ER keeps an equal share for every (task, class) pair where tasks share their classes: after 3
// tasks of the 10 classes, 30 samples of memory hold one sample of each class from each task.
TEST(DomainStreams, ErKeepsEveryTasksSamplesOfEachClass) {
  TempDir dir;
  auto user = stream_user(dir, "permuted-fmnist", "domain-il");
  user["method"] = "er";
  user["er.buffer"] = 30;
  const auto s = setup(user);
  for (const auto& t : s->stream->tasks) {
    s->method->begin_task(t);
    s->method->end_task(t);
  }
  const auto memory = testing::probe(*s->method).ints.at("samples");
  ASSERT_EQ(memory.size(), 30u);
  std::set<std::pair<int64_t, int64_t>> pairs;  // (task, class) of each stored sample
  for (int64_t i : memory) pairs.insert({i / 30, s->stream->train_set->label(i)});
  EXPECT_EQ(pairs.size(), 30u);
  const auto r = testing::run_quiet(user);
  EXPECT_EQ(r.memory_samples, (std::vector<int64_t>{30, 30, 30}));
  EXPECT_EQ(testing::bits(r.acc_task_il), testing::bits(r.acc_class_il))
      << "one head over the shared classes";
}

}  // namespace domain_testing
}  // namespace clbench
