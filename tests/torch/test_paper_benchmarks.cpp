// The paper benchmarks (datasets/paper_benchmarks.cpp) on fixtures in their distributed layouts:
// task composition and class order, the transforms' output, deterministic rank-invariant
// augmentation, the HDF5 cache (`clbench prepare`) against direct decoding, and whole runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "datasets/benchmarks/class_order.h"
#include "datasets/benchmarks/paper_benchmarks.h"
#include "datasets/images/image_cache.h"
#include "datasets/loader.h"
#include "datasets/readers/cifar100.h"
#include "datasets/readers/domainnet.h"
#include "datasets/readers/imagenet_r.h"
#include "harness/run/imagenet_r_split.h"
#include "results/result_file.h"
#include "tests/common/accuracy_bits.h"
#include "tests/core/fixtures.h"
#include "tests/torch/cifar_fixture.h"
#include "tests/torch/support.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// ImageNet-R pre-split folders (and ImageNet-A's: the same layout) at <dir>/<folder>: 200
// WordNet-id folders in train/ and test/, `train_per_class` and one test JPEG each, of varied
// sizes (12..19 x 16..25).
std::string imagenet_r_folders(const TempDir& dir, int train_per_class = 2,
                               const std::string& folder = "imagenet-r") {
  const std::string root = dir.path(folder);
  for (int c = 0; c < 200; ++c) {
    char wnid[16];
    std::snprintf(wnid, sizeof wnid, "n%08d", 1000 + c);
    for (int k = 0; k <= train_per_class; ++k) {
      const bool test = k == train_per_class;
      const int h = 12 + (c + k) % 8, w = 16 + (3 * c + k) % 10;
      std::vector<uint8_t> rgb(static_cast<size_t>(h * w * 3));
      for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 13 + c * 7 + k);
      const std::string path =
          root + (test ? "/test/" : "/train/") + wnid + "/art_" + std::to_string(k) + ".jpg";
      fs::create_directories(fs::path(path).parent_path());
      encode_jpeg(path, rgb, w, h, 90);
    }
  }
  return root;
}

nlohmann::json small_images(const std::string& benchmark, nlohmann::json extra = {}) {
  nlohmann::json user = {{"benchmark", benchmark}, {"method", "finetune"}, {"backbone", "mlp"},
                         {"image_size", 8},        {"test_resize", 10},    {"epochs", 1},
                         {"batch_size", 16},       {"threads", 1}};
  if (extra.is_object()) user.update(extra);
  return user;
}

TEST(PaperBenchmarks, AreRegisteredWithTheirTaskCounts) {
  for (const auto& [name, tasks] :
       std::vector<std::pair<std::string, int>>{{"cifar100-10", 10},
                                                {"imagenet-r-5", 5},
                                                {"imagenet-r-10", 10},
                                                {"imagenet-r-20", 20},
                                                {"cub200-10", 10},
                                                {"domainnet-cil-5", 5},
                                                {"domainnet-dil-6", 6},
                                                {"imagenet-a-10", 10},
                                                {"seq-cifar10", 5},
                                                {"seq-tinyimagenet", 10}}) {
    const auto& b = find_benchmark(name);
    EXPECT_EQ(b.name, name);
    EXPECT_NO_THROW(find_image_data(name)) << name;
  }
  testing::expect_error([] { find_image_data("split-fmnist"); }, {"no image files", "cub200-10"});
}

TEST(PaperBenchmarks, WithoutDataTheErrorSaysWhatToPass) {
  testing::expect_error([] { testing::setup(small_images("imagenet-r-10")); },
                        {"imagenet-r-10", "--data-root", "clbench prepare"});
  // A data root too long to check is "not a folder", not a filesystem_error.
  std::string deep = "/tmp";
  for (int i = 0; i < 2100; ++i) deep += "/a";
  testing::expect_error(
      [&] {
        testing::setup(small_images("imagenet-r-10", {{"data_root", deep}}));
      },
      {"data root /tmp/a/a", "is not a folder"});
}

TEST(PaperBenchmarks, ImagenetRFoldersSplitIntoPycilOrderedTasks) {
  TempDir dir;
  const auto root = imagenet_r_folders(dir);
  auto s = testing::setup(small_images("imagenet-r-10", {{"data_root", root}}));
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 10);
  EXPECT_EQ(stream.class_order, pycil_order(1993, 200));
  EXPECT_EQ(std::vector<int64_t>(stream.class_order.begin(), stream.class_order.begin() + 4),
            (std::vector<int64_t>{168, 136, 51, 9}));  // numpy: seed(1993); permutation(200)[:4]
  for (const Task& t : stream.tasks) {
    EXPECT_EQ(t.classes.size(), 20u);
    EXPECT_EQ(t.train.size(), 40u);
    EXPECT_EQ(t.test.size(), 20u);
  }
  EXPECT_TRUE(testing::train_samples_in_their_tasks(stream));
  EXPECT_EQ(stream.input_shape(), (std::vector<int64_t>{3, 8, 8}));
  auto five = testing::setup(small_images("imagenet-r-5", {{"data_root", root}}));
  EXPECT_EQ(five->stream->num_tasks(), 5);
  EXPECT_EQ(five->stream->tasks[0].classes.size(), 40u);
}

TEST(PaperBenchmarks, ImagenetAIsTenTasksOfTwentyInPycilOrderOrApersTwentyOfTen) {
  TempDir dir;
  const auto root = imagenet_r_folders(dir, 2, "data/imagenet-a");
  // PILOT's build_transform: RandomResizedCrop(224, scale 0.05-1); Resize(256, bicubic) +
  // CenterCrop(224); [0, 1] input.
  const RunPlan p = testing::plan({{"benchmark", "imagenet-a-10"}, {"data_root", root}});
  EXPECT_EQ(p.config.str("backbone"), "vit-b16");
  EXPECT_EQ(p.config.integer("image_size"), 224);
  EXPECT_EQ(p.config.integer("test_resize"), 256);
  EXPECT_EQ(p.config.num("crop_scale_min"), 0.05);
  EXPECT_EQ(p.config.str("test_interpolation"), "bicubic");
  EXPECT_EQ(p.config.str("normalize"), "none");
  // data_root may be the folder above imagenet-a/ (PILOT's ./data) or imagenet-a/ itself.
  for (const std::string& data_root : {dir.path("data"), root}) {
    auto s = testing::setup(small_images("imagenet-a-10", {{"data_root", data_root}}));
    const TaskStream& stream = *s->stream;
    ASSERT_EQ(stream.num_tasks(), 10);
    EXPECT_EQ(s->plan.config.integer("class_order_seed"), 1993);
    EXPECT_EQ(
        std::vector<int64_t>(stream.class_order.begin(), stream.class_order.begin() + 10),
        (std::vector<int64_t>{168, 136, 51, 9, 183, 101, 171, 99, 42, 159}));  // datasets.md §9
    for (const Task& t : stream.tasks) {
      EXPECT_EQ(t.classes.size(), 20u);
      EXPECT_EQ(t.train.size(), 40u);
      EXPECT_EQ(t.test.size(), 20u);
    }
    EXPECT_EQ(stream.tasks[0].classes.front(), 168);
    EXPECT_TRUE(testing::train_samples_in_their_tasks(stream));
  }
  auto aper =
      testing::setup(small_images("imagenet-a-10", {{"data_root", root}, {"increment", 10}}));
  EXPECT_EQ(aper->stream->num_tasks(), 20);
  EXPECT_EQ(aper->stream->tasks[19].classes.size(), 10u);
  // A tree without all 200 classes is refused.
  fs::remove_all(root + "/train/n00001005");
  fs::remove_all(root + "/test/n00001005");
  testing::expect_error(
      [&] {
        testing::setup(small_images("imagenet-a-10", {{"data_root", root}}));
      },
      {root + "/train", "199 class folders", "expected 200"});
}

TEST(PaperBenchmarks, AugmentationIsSeededPerSampleAndShardInvariant) {
  TempDir dir;
  const auto root = imagenet_r_folders(dir);
  auto s = testing::setup(small_images("imagenet-r-10", {{"data_root", root}}));
  const TaskStream& stream = *s->stream;
  const std::vector<int64_t> global(stream.tasks[0].train.begin(),
                                    stream.tasks[0].train.begin() + 10);
  const auto whole = load_batch(stream, *stream.train_set, global, 10, 1, 0, 42);
  const auto again = load_batch(stream, *stream.train_set, global, 10, 1, 0, 42);
  EXPECT_TRUE(torch::equal(whole.x, again.x));
  const auto other = load_batch(stream, *stream.train_set, global, 10, 1, 0, 43);
  EXPECT_FALSE(torch::equal(whole.x, other.x));
  // Two ranks' shards, put together, are the one-rank batch.
  const auto a = load_shard(stream, *stream.train_set, global, 0, 2, torch::kCPU, 42);
  const auto b = load_shard(stream, *stream.train_set, global, 1, 2, torch::kCPU, 42);
  EXPECT_TRUE(torch::equal(torch::cat({a.x, b.x}), whole.x));
  // The evaluation view is deterministic and differs from the augmented one.
  const auto test_view = load_batch(stream, *stream.train_set, global, 10);
  EXPECT_TRUE(torch::equal(test_view.x, load_batch(stream, *stream.train_set, global, 10).x));
  EXPECT_FALSE(torch::equal(test_view.x, whole.x));
  EXPECT_GE(whole.x.min().item<float>(), 0.0f);
  EXPECT_LE(whole.x.max().item<float>(), 1.0f);
}

TEST(PaperBenchmarks, CachedRunSeesTheSameImagesAsDirectDecoding) {
  TempDir dir;
  const auto root = imagenet_r_folders(dir, 1);
  const std::string cache = dir.path("inr.h5");
  std::string out;
  ASSERT_EQ(testing::run_command(testing::clbench_cmd("prepare imagenet-r-10 --data-root " + root +
                                                      " --out " + cache + " --store-size 0"),
                                 out),
            0)
      << out;
  EXPECT_NE(out.find("imagenet-r/folders"), std::string::npos) << out;
  auto direct = testing::setup(small_images("imagenet-r-10", {{"data_root", root}}));
  auto cached = testing::setup(small_images("imagenet-r-10", {{"cache", cache}}));
  const TaskStream &d = *direct->stream, &c = *cached->stream;
  ASSERT_EQ(c.train_set->size(), d.train_set->size());
  ASSERT_EQ(c.test_set->size(), d.test_set->size());
  std::vector<int64_t> all(static_cast<size_t>(d.train_set->size()));
  std::iota(all.begin(), all.end(), 0);
  EXPECT_TRUE(torch::equal(c.train_set->images(all), d.train_set->images(all)));
  std::vector<uint64_t> seeds(all.size(), 5);
  EXPECT_TRUE(torch::equal(c.train_set->augmented(all, seeds), d.train_set->augmented(all, seeds)));
  for (int64_t i = 0; i < d.test_set->size(); ++i)
    ASSERT_EQ(c.test_set->label(i), d.test_set->label(i));
  // A cache of another layout is refused, naming both.
  testing::expect_error(
      [&] {
        testing::setup(
            small_images("imagenet-r-10", {{"cache", cache}, {"imagenet-r.layout", "coda"}}));
      },
      {cache, "imagenet-r/folders", "imagenet-r/coda"});
}

TEST(PaperBenchmarks, CifarTestViewAtNativeSizeIsThePixels) {
  TempDir dir;
  const std::string root = dir.path("cifar-100-binary");
  testing::write_cifar100(root, 2, 1);
  auto s = testing::setup(
      small_images("cifar100-10", {{"data_root", root}, {"image_size", 32}, {"test_resize", 0}}));
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 10);
  EXPECT_EQ(stream.class_order, pycil_order(1993, 100));
  EXPECT_EQ(stream.tasks[0].train.size(), 20u);
  const auto split = read_cifar100_bin(root + "/test.bin");
  const auto x = stream.test_set->model_input(stream.test_set->images({37}));
  const auto expected =
      torch::from_blob(const_cast<uint8_t*>(split.pixels.data()) + 37 * kCifarImageBytes,
                       {1, 3, 32, 32}, torch::kUInt8)
          .to(torch::kFloat32)
          .div(255.0);
  EXPECT_LE((x - expected).abs().max().item<float>(), 1e-6f);
}

TEST(PaperBenchmarks, RunWritesTheBenchmarkMetadata) {
  TempDir dir;
  const auto root = imagenet_r_folders(dir);
  const auto r = testing::run_quiet(small_images(
      "imagenet-r-20", {{"data_root", root}, {"out", dir.path("results")}, {"loader_threads", 2}}));
  ASSERT_EQ(r.acc_class_il.size(), 20u);
  EXPECT_EQ(r.class_order, pycil_order(1993, 200));
  EXPECT_EQ(r.train_counts, std::vector<int64_t>(20, 20));
  EXPECT_EQ(r.test_counts, std::vector<int64_t>(20, 10));
  // Prefetching and loader threads do not change the numbers.
  const auto serial = testing::run_quiet(small_images(
      "imagenet-r-20", {{"data_root", root}, {"out", dir.path("serial")}, {"loader_threads", 0}}));
  EXPECT_EQ(testing::bits(serial.acc_class_il), testing::bits(r.acc_class_il));
}

TEST(PaperBenchmarks, DomainNetDomainIncrementalIsOneTaskPerDomain) {
  TempDir dir;
  const std::string root = dir.path("domainnet");
  fs::create_directories(root);
  for (const auto& domain : domainnet_domains()) {
    for (const char* split : {"train", "test"}) {
      std::vector<std::string> lines;
      for (int c = 0; c < 345; ++c) {
        lines.push_back(domain + "/cls" + std::to_string(c) + "/" + domain + "_" +
                        std::to_string(c) + "_" + split + ".jpg " + std::to_string(c));
      }
      testing::write_lines(root + "/" + domain + "_" + split + ".txt", lines);
    }
  }
  auto s = testing::setup(small_images("domainnet-dil-6", {{"data_root", root}}));
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 6);
  for (int t = 0; t < 6; ++t) {
    const Task& task = stream.tasks[t];
    EXPECT_EQ(task.classes.front(), 345 * t);  // identity order: label + 345 * domain
    EXPECT_EQ(task.classes.size(), 345u);
    EXPECT_EQ(task.train.size(), 345u);
    EXPECT_EQ(task.test.size(), 345u);
  }
  EXPECT_EQ(s->plan.config.str("normalize"), "imagenet");  // S-Prompts normalises
  // The loader ships uint8 pixels; the model's input is [0, 1] with ImageNet's mean and std.
  for (int c : {0, 1}) {
    testing::write_jpeg(
        root + "/clipart/cls" + std::to_string(c) + "/clipart_" + std::to_string(c) + "_test.jpg",
        c);
  }
  const auto pixels = stream.test_set->images({0, 1});
  ASSERT_EQ(pixels.scalar_type(), torch::kUInt8);
  const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const auto std = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  const auto expected = (pixels.to(torch::kFloat32) / 255.0 - mean) / std;
  EXPECT_TRUE(torch::allclose(stream.test_set->model_input(pixels), expected, 1e-5, 1e-5));
}

TEST(PaperBenchmarks, DomainNetClassIncrementalUsesTheListLabelsInOrder) {
  TempDir dir;
  const std::string root = dir.path("DomainNet");
  fs::create_directories(root);
  const std::vector<std::string> domains = {"clipart", "infograph", "painting", "real", "sketch"};
  for (const char* split : {"train", "test"}) {
    std::string data = "data:\n", dom = "domains:\n", targets = "targets:\n";
    for (int c = 0; c < 345; ++c) {
      const std::string& d = domains[static_cast<size_t>(c) % 5];
      data += "- " + d + "/cls" + std::to_string(c) + "/" + d + "_" + split + ".jpg\n";
      dom += "- " + d + "\n";
      targets += "- " + std::to_string(c) + "\n";
    }
    testing::write_text(root + "/domainnet_" + std::string(split) + ".yaml", data + dom + targets);
  }
  auto s = testing::setup(small_images("domainnet-cil-5", {{"data_root", root}}));
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 5);
  std::vector<int64_t> identity(345);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(stream.class_order, identity);
  for (const Task& t : stream.tasks) {
    EXPECT_EQ(t.classes.size(), 69u);
    EXPECT_EQ(t.train.size(), 69u);
  }
}

TEST(PaperBenchmarks, CubOfficialSplitGivesTenTasksOfTwentyClasses) {
  TempDir dir;
  const std::string root = dir.path("CUB_200_2011");
  fs::create_directories(root);
  std::vector<std::string> images, labels, split, classes;
  int id = 1;
  for (int c = 1; c <= 200; ++c) {
    char name[32];
    std::snprintf(name, sizeof name, "%03d.Bird_%d", c, c);
    classes.push_back(std::to_string(c) + " " + name);
    for (int k = 0; k < 3; ++k, ++id) {
      images.push_back(std::to_string(id) + " " + name + "/img_" + std::to_string(k) + ".jpg");
      labels.push_back(std::to_string(id) + " " + std::to_string(c));
      split.push_back(std::to_string(id) + (k < 2 ? " 1" : " 0"));
    }
  }
  testing::write_lines(root + "/images.txt", images);
  testing::write_lines(root + "/image_class_labels.txt", labels);
  testing::write_lines(root + "/train_test_split.txt", split);
  testing::write_lines(root + "/classes.txt", classes);
  auto s = testing::setup(small_images("cub200-10", {{"data_root", root}}));
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 10);
  EXPECT_EQ(stream.class_order, pycil_order(1993, 200));
  for (const Task& t : stream.tasks) {
    EXPECT_EQ(t.train.size(), 40u);
    EXPECT_EQ(t.test.size(), 20u);
  }
}

}  // namespace
}  // namespace clbench

namespace clbench {
namespace {

// random_split's permutation is torch.randperm of a generator seeded like torch.manual_seed:
// PyTorch 2.11 gives these for n = 30000 (ImageNet-R) and n = 10.
TEST(ImagenetRSplit, ThePermutationIsTorchsRandperm) {
  const auto inr = random_split_permutation(30000, 0);
  EXPECT_EQ(std::vector<int64_t>(inr.begin(), inr.begin() + 8),
            (std::vector<int64_t>{6044, 23117, 9729, 26406, 14191, 22624, 3577, 17785}));
  EXPECT_EQ(std::vector<int64_t>(inr.end() - 3, inr.end()),
            (std::vector<int64_t>{6272, 3746, 21355}));
  EXPECT_EQ(random_split_permutation(30000, 42)[0], 7542);
  EXPECT_EQ(random_split_permutation(10, 0), (std::vector<int64_t>{4, 1, 7, 5, 3, 9, 0, 8, 6, 2}));
}

// The official archive's layout (WordNet-id folders, no split) becomes the pre-split folders the
// reference code leaves behind: ImageFolder's order, the first int(0.8 N) of the permutation in
// train/. 12 images, seed 0: PyTorch's randperm(12) puts items 1, 6 and 11 in test/.
TEST(ImagenetRSplit, PrepareSplitsTheArchiveAsRandomSplitDoesAndTheReaderLoadsIt) {
  TempDir dir;
  const std::vector<std::string> order = {
      "n00000001/art_0.jpg",    "n00000001/art_1.jpg",   "n00000001/cartoon_0.jpg",
      "n00000001/sketch_3.jpg", "n00000002/art_0.jpg",   "n00000002/toy_1.jpg",
      "n00000002/toy_2.jpg",    "n00000002/toy_3.jpg",   "n00000003/misc_0.jpg",
      "n00000003/misc_1.jpg",   "n00000003/misc_10.jpg", "n00000003/misc_2.jpg"};
  for (size_t i = 0; i < order.size(); ++i) {
    const auto path = dir / "archive" / order[i];
    fs::create_directories(path.parent_path());
    testing::write_jpeg(path.string(), static_cast<int>(i));
  }
  std::string out;
  ASSERT_EQ(testing::run_command(testing::clbench_cmd("prepare imagenet-r-10 --data-root " +
                                                      (dir / "archive").string() +
                                                      " --split-into " + (dir / "inr").string()),
                                 out),
            0)
      << out;
  EXPECT_NE(out.find("9 train and 3 test images"), std::string::npos) << out;
  for (size_t i = 0; i < order.size(); ++i) {
    const bool test = i == 1 || i == 6 || i == 11;
    EXPECT_TRUE(fs::exists(dir / "inr" / (test ? "test" : "train") / order[i])) << order[i];
    EXPECT_FALSE(fs::exists(dir / "inr" / (test ? "train" : "test") / order[i])) << order[i];
  }
  EXPECT_TRUE(fs::exists(dir / "archive" / order[0])) << "the archive stays as it was";
  const auto split = read_imagenet_r_folders((dir / "inr").string());
  EXPECT_EQ(split.train.size(), 9u);
  EXPECT_EQ(split.test.size(), 3u);
  EXPECT_EQ(testing::run_command(testing::clbench_cmd("prepare imagenet-r-10 --data-root " +
                                                      (dir / "archive").string() +
                                                      " --split-into " + (dir / "inr").string()),
                                 out),
            1)
      << "a second split over the first: " << out;
  EXPECT_NE(out.find("exists already"), std::string::npos) << out;
}

}  // namespace
}  // namespace clbench
