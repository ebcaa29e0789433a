// Mammoth's seq-cifar10 and seq-tinyimagenet (datasets/benchmarks/mammoth.cpp) on fixtures in
// their distributed layouts (cifar-10-batches-bin/, processed/*.npy): task composition, identity
// class order, the defaults of the DER paper, the normalised test pixels and the padded-crop
// augmentation, and the HDF5 cache.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "datasets/benchmarks/paper_benchmarks.h"
#include "datasets/benchmarks/registry.h"
#include "datasets/readers/cifar100.h"
#include "tests/core/fixtures.h"
#include "tests/core/npy_fixture.h"
#include "tests/torch/support.h"

namespace clbench::mammoth_testing {

namespace fs = std::filesystem;
using testing::TempDir;

// Pixel byte i (R, G, B planes) of record k of batch file `file` (1..5 train, 6 test): never 0,
// so the padding of an augmented view shows as zeros.
uint8_t batch_pixel(int file, int k, int64_t i) {
  return static_cast<uint8_t>(1 + (file * 31 + k * 7 + i * 5 + i / 1024) % 255);
}

// cifar-10-batches-bin/: each batch file holds one record of every class (labels 0..9 in order;
// test_batch.bin in reverse), batches.meta.txt the ten names.
std::string write_cifar10(const TempDir& dir) {
  const std::string root = dir.path("cifar-10-batches-bin");
  fs::create_directories(root);
  for (int file = 1; file <= 6; ++file) {
    testing::Bytes b;
    for (int k = 0; k < 10; ++k) {
      b.push_back(static_cast<uint8_t>(file == 6 ? 9 - k : k));
      for (int64_t i = 0; i < kCifarImageBytes; ++i) b.push_back(batch_pixel(file, k, i));
    }
    testing::write_bytes(root + (file == 6 ? std::string("/test_batch.bin")
                                           : "/data_batch_" + std::to_string(file) + ".bin"),
                         b);
  }
  testing::write_lines(root + "/batches.meta.txt", {"airplane", "automobile", "bird", "cat", "deer",
                                                    "dog", "frog", "horse", "ship", "truck", ""});
  return root;
}

nlohmann::json small(const std::string& benchmark, const std::string& root,
                     nlohmann::json extra = {}) {
  nlohmann::json user = {{"benchmark", benchmark}, {"method", "finetune"}, {"backbone", "mlp"},
                         {"data_root", root},      {"epochs", 1},          {"threads", 1}};
  if (extra.is_object()) user.update(extra);
  return user;
}

TEST(MammothBenchmarks, SeqCifar10IsFiveTasksOfTwoInLabelOrderWithTheDerDefaults) {
  TempDir dir;
  const std::string root = write_cifar10(dir);
  const RunPlan p = testing::plan({{"benchmark", "seq-cifar10"}, {"data_root", root}});
  EXPECT_EQ(p.config.str("backbone"), "resnet18-cifar");
  EXPECT_EQ(p.config.integer("epochs"), 50);
  EXPECT_EQ(p.config.integer("batch_size"), 32);
  EXPECT_EQ(p.config.num("momentum"), 0.0);
  EXPECT_EQ(p.config.num("lr"), 0.03);
  EXPECT_EQ(p.config.integer("image_size"), 32);
  EXPECT_EQ(p.config.integer("test_resize"), 0);
  EXPECT_EQ(p.config.str("normalize"), "mammoth-cifar10");
  EXPECT_EQ(p.config.str("train_crop"), "padded");
  EXPECT_EQ(p.config.integer("crop_padding"), 4);

  auto s = testing::setup(small("seq-cifar10", root));
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 5);
  EXPECT_EQ(stream.class_order, testing::iota(10));
  for (int t = 0; t < 5; ++t) {
    EXPECT_EQ(stream.tasks[t].classes, (std::vector<int64_t>{2 * t, 2 * t + 1}));
    EXPECT_EQ(stream.tasks[t].train.size(), 10u);  // 5 batches x 2 classes
    EXPECT_EQ(stream.tasks[t].test.size(), 2u);
  }
  EXPECT_TRUE(testing::train_samples_in_their_tasks(stream));
  EXPECT_EQ(stream.input_shape(), (std::vector<int64_t>{3, 32, 32}));
  // Test image 3 (record 3 of test_batch.bin, label 6): ToTensor + Normalize of its pixels.
  EXPECT_EQ(stream.test_set->label(3), 6);
  const auto x = stream.test_set->model_input(stream.test_set->images({3}));
  const auto planes = torch::empty({1, 3, 32, 32}, torch::kFloat32);
  for (int64_t i = 0; i < kCifarImageBytes; ++i)
    planes.view({-1})[i] = static_cast<float>(batch_pixel(6, 3, i)) / 255.0f;
  const auto mean = torch::tensor({0.4914f, 0.4822f, 0.4465f}).view({1, 3, 1, 1});
  const auto std = torch::tensor({0.2470f, 0.2435f, 0.2615f}).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::allclose(x, (planes - mean) / std, 1e-5, 1e-5));
  // Training views are RandomCrop(32, padding=4): black borders, seeded per sample.
  const std::vector<int64_t> all = testing::iota(stream.train_set->size());
  EXPECT_EQ(stream.train_set->images(all).eq(0).sum().item<int64_t>(), 0);
  const std::vector<uint64_t> seeds(all.size(), 11);
  const auto a = stream.train_set->augmented(all, seeds);
  EXPECT_TRUE(torch::equal(a, stream.train_set->augmented(all, seeds)));
  EXPECT_GT(a.eq(0).sum().item<int64_t>(), 0);
  EXPECT_EQ(a.sizes(), stream.train_set->images(all).sizes());
}

TEST(MammothBenchmarks, SeqCifar10CacheHoldsTheSameImages) {
  TempDir dir;
  const std::string root = write_cifar10(dir);
  const std::string cache = dir.path("c10.h5");
  std::string out;
  ASSERT_EQ(testing::run_command(testing::clbench_cmd("prepare seq-cifar10 --data-root " + root +
                                                      " --out " + cache + " --store-size 0"),
                                 out),
            0)
      << out;
  auto direct = testing::setup(small("seq-cifar10", root));
  auto cached = testing::setup(small("seq-cifar10", "", {{"cache", cache}}));
  const std::vector<int64_t> all = testing::iota(direct->stream->test_set->size());
  EXPECT_TRUE(
      torch::equal(cached->stream->test_set->images(all), direct->stream->test_set->images(all)));
  testing::expect_error(
      [&] {
        testing::setup(small("seq-tinyimagenet", "", {{"cache", cache}}));
      },
      {cache, "cifar10", "tinyimagenet/mammoth"});
}

TEST(MammothBenchmarks, SeqTinyImagenetIsTenTasksOfTwentyFromTheNpyFiles) {
  TempDir dir;
  testing::write_tiny_imagenet(dir.root(), 10);  // 200 train and 200 val images, one per class
  const RunPlan p = testing::plan({{"benchmark", "seq-tinyimagenet"}, {"data_root", dir.root()}});
  EXPECT_EQ(p.config.str("backbone"), "resnet18-cifar");
  EXPECT_EQ(p.config.integer("epochs"), 100);
  EXPECT_EQ(p.config.integer("batch_size"), 32);
  EXPECT_EQ(p.config.num("momentum"), 0.0);
  EXPECT_EQ(p.config.integer("image_size"), 64);
  EXPECT_EQ(p.config.str("normalize"), "mammoth-tinyimg");

  auto s = testing::setup(small("seq-tinyimagenet", dir.root()));
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 10);
  EXPECT_EQ(stream.class_order, testing::iota(200));
  for (int t = 0; t < 10; ++t) {
    EXPECT_EQ(stream.tasks[t].classes.front(), 20 * t);
    EXPECT_EQ(stream.tasks[t].classes.size(), 20u);
    EXPECT_EQ(stream.tasks[t].train.size(), 20u);
    EXPECT_EQ(stream.tasks[t].test.size(), 20u);
  }
  EXPECT_EQ(stream.input_shape(), (std::vector<int64_t>{3, 64, 64}));
  // Val image 37 (x_val_04.npy, 8th): np.uint8(255 * x), then ToTensor + Normalize.
  EXPECT_EQ(stream.test_set->label(37), 37);
  const auto x = stream.test_set->model_input(stream.test_set->images({37}));
  const float mean[3] = {0.4802f, 0.4480f, 0.3975f}, sd[3] = {0.2770f, 0.2691f, 0.2821f};
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y : {0, 13, 63})
      for (int64_t xx : {0, 40, 63}) {
        const int step = testing::tiny_step(37, (y * 64 + xx) * 3 + c);
        const float want =
            (static_cast<float>(testing::kQuarterPixels[step]) / 255.0f - mean[c]) / sd[c];
        EXPECT_NEAR(x[0][c][y][xx].item<float>(), want, 1e-5f) << c << " " << y << " " << xx;
      }
  // A missing file is named.
  fs::remove(dir.path("processed/y_val_13.npy"));
  testing::expect_error([&] { testing::setup(small("seq-tinyimagenet", dir.root())); },
                        {"missing", "y_val_13.npy"});
}

}  // namespace clbench::mammoth_testing
