// The benchmarks of one dataset per task (folder-sequence, datasets/benchmarks/folder_sequence.cpp)
// and of GEM's split CIFAR-100 (split-cifar100-20): their task streams on fixtures in the
// published layouts, their task-IL defaults, training on the test view, the image cache and a run.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "datasets/benchmarks/paper_benchmarks.h"
#include "datasets/readers/cifar100.h"
#include "results/result_file.h"
#include "tests/core/fixtures.h"
#include "tests/torch/cifar_fixture.h"
#include "tests/torch/support.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// <root>/<task>/{train,test}/<class>/: birds (2 classes), cars (3), digits (4), sorted; two train
// and one test JPEG per class, of varied sizes (9..12 x 10..14).
std::string three_tasks(const TempDir& dir) {
  const std::string root = dir.path("tasks");
  const std::vector<std::pair<std::string, std::vector<std::string>>> tasks = {
      {"cars", {"sedan", "suv", "van"}},
      {"birds", {"owl", "crow"}},
      {"digits", {"0", "1", "2", "3"}}};
  int n = 0;
  for (const auto& [task, classes] : tasks) {
    for (const auto& c : classes) {
      for (int k = 0; k < 3; ++k, ++n) {
        const int h = 9 + n % 4, w = 10 + n % 5;
        std::vector<uint8_t> rgb(static_cast<size_t>(h * w * 3));
        for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 11 + n * 29);
        const std::string path = root + "/" + task + (k < 2 ? "/train/" : "/test/") + c + "/" +
                                 std::to_string(k) + ".jpg";
        fs::create_directories(fs::path(path).parent_path());
        encode_jpeg(path, rgb, w, h, 90);
      }
    }
  }
  return root;
}

nlohmann::json small_run(const std::string& benchmark, nlohmann::json extra = {}) {
  nlohmann::json user = {{"benchmark", benchmark},
                         {"method", "finetune"},
                         {"backbone", "mlp"},
                         {"image_size", 8},
                         {"epochs", 1},
                         {"batch_size", 4},
                         {"threads", 1}};
  if (extra.is_object()) user.update(extra);
  return user;
}

TEST(FolderSequence, IsListedWithTaskIlAndClrDefaults) {
  std::string out;
  ASSERT_EQ(testing::run_command(testing::clbench_cmd("list"), out), 0) << out;
  EXPECT_NE(out.find("folder-sequence"), std::string::npos) << out;
  EXPECT_NE(out.find("split-cifar100-20"), std::string::npos) << out;
  EXPECT_NO_THROW(find_image_data("folder-sequence"));
  const Config cfg = testing::plan({{"benchmark", "folder-sequence"}}).config;
  EXPECT_EQ(cfg.str("scenario"), "task-il");
  EXPECT_EQ(cfg.str("augment"), "none");
  EXPECT_EQ(cfg.integer("test_resize"), 0);  // Resize((224, 224))
  EXPECT_EQ(cfg.str("test_interpolation"), "bilinear");
  EXPECT_EQ(cfg.str("normalize"), "imagenet");
  EXPECT_EQ(cfg.str("optimizer"), "adam");
  EXPECT_EQ(cfg.num("lr"), 1e-3);
  EXPECT_EQ(cfg.integer("epochs"), 60);
  EXPECT_EQ(cfg.str("lr_milestones"), "20,40");
  EXPECT_EQ(cfg.str("folder-sequence.task_list"), "");
}

TEST(FolderSequence, EachTaskOwnsTheLabelsOfItsClasses) {
  TempDir dir;
  const auto root = three_tasks(dir);
  auto s = testing::setup(small_run("folder-sequence", {{"data_root", root}}));
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 3);
  EXPECT_EQ(stream.class_order, testing::iota(9));
  const std::vector<int64_t> begin = {0, 2, 5}, end = {2, 5, 9};
  for (int t = 0; t < 3; ++t) {
    const Task& task = stream.tasks[t];
    EXPECT_EQ(task.class_begin, begin[t]);
    EXPECT_EQ(task.class_end, end[t]);
    EXPECT_EQ(task.train.size(), 2u * static_cast<size_t>(end[t] - begin[t]));
    EXPECT_EQ(task.test.size(), static_cast<size_t>(end[t] - begin[t]));
  }
  EXPECT_TRUE(testing::train_samples_in_their_tasks(stream));
  EXPECT_EQ(stream.input_shape(), (std::vector<int64_t>{3, 8, 8}));
  const auto splits = configured_splits("folder-sequence", s->plan.config);
  EXPECT_EQ(splits.class_names,
            (std::vector<std::string>{"birds/crow", "birds/owl", "cars/sedan", "cars/suv",
                                      "cars/van", "digits/0", "digits/1", "digits/2", "digits/3"}));
  // tasks.txt in the data root orders (and picks) the tasks.
  testing::write_lines(root + "/tasks.txt", {"digits", "birds"});
  auto listed = testing::setup(small_run("folder-sequence", {{"data_root", root}}));
  ASSERT_EQ(listed->stream->num_tasks(), 2);
  EXPECT_EQ(listed->stream->tasks[0].class_end, 4);
  EXPECT_EQ(listed->stream->tasks[1].class_end, 6);
  EXPECT_EQ(configured_splits("folder-sequence", listed->plan.config).class_names.front(),
            "digits/0");
}

TEST(FolderSequence, TrainsOnTheTestViewUnlessAugmentIsSet) {
  TempDir dir;
  const auto root = three_tasks(dir);
  const std::vector<int64_t> idx = {0, 3, 7};
  const std::vector<uint64_t> seeds = {1, 2, 3};
  auto plain = testing::setup(small_run("folder-sequence", {{"data_root", root}}));
  const Dataset& train = *plain->stream->train_set;
  EXPECT_TRUE(torch::equal(train.augmented(idx, seeds), train.images(idx)));
  auto cropped =
      testing::setup(small_run("folder-sequence", {{"data_root", root}, {"augment", "crop-flip"}}));
  const Dataset& aug = *cropped->stream->train_set;
  EXPECT_FALSE(torch::equal(aug.augmented(idx, seeds), aug.images(idx)));
  EXPECT_TRUE(torch::equal(aug.images(idx), train.images(idx)));
}

TEST(FolderSequence, SettingsThatWouldMixTheTasksAreErrors) {
  TempDir dir;
  const auto root = three_tasks(dir);
  testing::expect_error(
      [&] {
        testing::setup(
            small_run("folder-sequence", {{"data_root", root}, {"class_order_seed", 1993}}));
      },
      {"folder-sequence", "identity", "'pycil'", "class_order_seed"});
  testing::expect_error(
      [&] {
        testing::setup(small_run("folder-sequence", {{"data_root", root}, {"init_classes", 2}}));
      },
      {"folder-sequence", "init_classes"});
  testing::expect_error([&] { testing::setup(small_run("folder-sequence")); },
                        {"folder-sequence needs its data", "--data-root"});
  // One class is a task only in class-IL: in task-IL it is always right.
  for (const char* split : {"train", "test"}) fs::remove_all(root + "/birds/" + split + "/owl");
  testing::expect_error(
      [&] {
        testing::setup(small_run("folder-sequence", {{"data_root", root}}));
      },
      {"task 'birds'", root + "/birds/train", "has 1 class", "--scenario class-il"});
  auto cil =
      testing::setup(small_run("folder-sequence", {{"data_root", root}, {"scenario", "class-il"}}));
  EXPECT_EQ(cil->stream->tasks[0].classes.size(), 1u);
}

TEST(FolderSequence, TheCacheKeepsTheTasksAndChecksTheList) {
  TempDir dir;
  const auto root = three_tasks(dir);
  testing::write_lines(root + "/tasks.txt", {"digits", "cars", "birds"});
  const std::string cache = dir.path("seq.h5");
  std::string out;
  ASSERT_EQ(testing::run_command(testing::clbench_cmd("prepare folder-sequence --data-root " +
                                                      root + " --out " + cache + " --store-size 0"),
                                 out),
            0)
      << out;
  auto direct = testing::setup(small_run("folder-sequence", {{"data_root", root}}));
  auto cached = testing::setup(small_run("folder-sequence", {{"cache", cache}}));
  const TaskStream &d = *direct->stream, &c = *cached->stream;
  ASSERT_EQ(c.num_tasks(), 3);
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(c.tasks[t].class_end, d.tasks[t].class_end);
    EXPECT_EQ(c.tasks[t].train, d.tasks[t].train);
  }
  EXPECT_EQ(c.tasks[0].class_end, 4);  // digits first, as listed
  const auto all = testing::iota(d.train_set->size());
  EXPECT_TRUE(torch::equal(c.train_set->images(all), d.train_set->images(all)));
  // A list in another order than the cache's is refused, naming both.
  testing::write_lines(dir.path("other.txt"), {"cars", "digits", "birds"});
  testing::expect_error(
      [&] {
        testing::setup(
            small_run("folder-sequence",
                      {{"cache", cache}, {"folder-sequence.task_list", dir.path("other.txt")}}));
      },
      {cache, "digits, cars, birds", dir.path("other.txt"), "cars, digits, birds"});
  EXPECT_NO_THROW(testing::setup(small_run(
      "folder-sequence", {{"cache", cache}, {"folder-sequence.task_list", root + "/tasks.txt"}})));
}

TEST(FolderSequence, RunRecordsTasksOfDifferentSizes) {
  TempDir dir;
  const auto root = three_tasks(dir);
  const auto r = testing::run_quiet(
      small_run("folder-sequence", {{"data_root", root}, {"out", dir.path("runs")}}));
  EXPECT_EQ(r.scenario, "task-il");
  ASSERT_EQ(r.acc_task_il.size(), 3u);
  EXPECT_EQ(r.train_counts, (std::vector<int64_t>{4, 6, 8}));
  EXPECT_EQ(r.test_counts, (std::vector<int64_t>{2, 3, 4}));
  ASSERT_EQ(r.task_classes.size(), 3u);
  EXPECT_EQ(r.task_classes[1][0], 2);
  EXPECT_EQ(r.task_classes[1][2], 4);
}

TEST(SplitCifar100, TwentyTaskIlTasksOfFiveClassesInIdentityOrder) {
  TempDir dir;
  const std::string root = dir.path("cifar-100-binary");
  testing::write_cifar100(root, 2, 1);
  const Config cfg = testing::plan({{"benchmark", "split-cifar100-20"}}).config;
  EXPECT_EQ(cfg.str("scenario"), "task-il");
  EXPECT_EQ(cfg.str("backbone"), "resnet18-reduced");
  EXPECT_EQ(cfg.integer("image_size"), 32);
  EXPECT_EQ(cfg.integer("test_resize"), 0);
  EXPECT_EQ(cfg.str("augment"), "none");
  EXPECT_EQ(cfg.integer("epochs"), 1);
  EXPECT_EQ(cfg.integer("batch_size"), 10);
  EXPECT_EQ(cfg.num("lr"), 0.1);
  auto s = testing::setup({{"benchmark", "split-cifar100-20"},
                           {"data_root", root},
                           {"method", "finetune"},
                           {"threads", 1}});
  const TaskStream& stream = *s->stream;
  ASSERT_EQ(stream.num_tasks(), 20);
  EXPECT_EQ(stream.class_order, testing::iota(100));
  for (int t = 0; t < 20; ++t) {
    const Task& task = stream.tasks[t];
    EXPECT_EQ(task.classes,
              (std::vector<int64_t>{5 * t, 5 * t + 1, 5 * t + 2, 5 * t + 3, 5 * t + 4}));
    EXPECT_EQ(task.train.size(), 10u);
    EXPECT_EQ(task.test.size(), 5u);
  }
  EXPECT_TRUE(testing::train_samples_in_their_tasks(stream));
  // GEM trains on the raw pixels / 255: the training view of record 3 (class 1, k = 1).
  const auto x = stream.train_set->model_input(stream.train_set->augmented({3}, {77}));
  const auto split = read_cifar100_bin(root + "/train.bin");
  const auto expected =
      torch::from_blob(const_cast<uint8_t*>(split.pixels.data()) + 3 * kCifarImageBytes,
                       {1, 3, 32, 32}, torch::kUInt8)
          .to(torch::kFloat32)
          .div(255.0);
  EXPECT_LE((x - expected).abs().max().item<float>(), 1e-6f);
}

}  // namespace
}  // namespace clbench
