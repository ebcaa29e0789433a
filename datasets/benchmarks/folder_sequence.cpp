// folder-sequence: a sequence of datasets, one task each, each with its own classes (the CLR
// protocol, Ge et al. ICCV 2023): DATA_ROOT/<task>/{train,test}/<class>/<images>
// (datasets/readers/task_folders.h), tasks in the order of DATA_ROOT/tasks.txt (or the key
// folder-sequence.task_list) or else sorted. Task t owns the labels of its own classes only, so
// the natural scenario, the default, is task-IL.
//
// Defaults as CLR trains (gyhandy/Channel-wise-Lightweight-Reprogramming, main.py and
// dataset/dataloader_reader.py): Resize((224, 224)) for training and testing (no augmentation;
// torchvision's default filter, bilinear) and ImageNet mean/std; Adam lr 1e-3, batch 32, 60 epochs
// per task with StepLR(20, 0.1), on torchvision's ResNet-18 (network/model.py, Res_Ghost).
#include <algorithm>
#include <numeric>

#include "datasets/benchmarks/paper_benchmarks.h"
#include "datasets/benchmarks/registry.h"
#include "datasets/readers/task_folders.h"
#include "harness/foundation/error.h"
#include "harness/foundation/text.h"

namespace clbench {
namespace {

constexpr const char* kName = "folder-sequence";
constexpr const char* kListKey = "folder-sequence.task_list";

ImageSplits read(const Config& cfg) {
  const std::string root =
      require_data_root(cfg, "one folder per task: <task>/train/<class>/*.jpg, <task>/test/...");
  TaskFolders folders = read_task_folders(root, cfg.str(kListKey));
  ImageSplits s;
  s.data_id = kName;
  s.num_classes = folders.records.num_classes;
  s.class_names = std::move(folders.records.class_names);
  s.train = file_images(std::move(folders.records.train), root);
  s.test = file_images(std::move(folders.records.test), root);
  return s;
}

// Keys that would mix the tasks' classes are errors, not silently ignored.
void check_keys(const Config& cfg) {
  const std::string order = class_order_algorithm(cfg);
  if (order != "identity") {
    throw Error(std::string(kName) + ": each task is one dataset with its own classes, so the " +
                "class order is the folders' (identity), not '" + order +
                "' (keys class_order, class_order_seed)");
  }
  if (cfg.integer("init_classes") != 0) {
    throw Error(std::string(kName) + ": a task's classes are its class folders; key " +
                "init_classes does not apply (got " + std::to_string(cfg.integer("init_classes")) +
                ")");
  }
}

// The tasks of the splits' class names; with a cache, they must be in the order key task_list
// gives, if it gives one.
std::vector<FolderTask> tasks_of(const ImageSplits& s, const Config& cfg) {
  const std::string cache = cfg.str("cache");
  const auto tasks = task_folder_tasks(s.class_names, cache.empty() ? cfg.str("data_root") : cache);
  const std::string list = cfg.str(kListKey);
  if (cache.empty() || list.empty()) return tasks;
  std::vector<std::string> have;
  for (const auto& t : tasks) have.push_back(t.name);
  const auto want = read_task_list(list);
  if (want != have) {
    throw Error(cache + " holds the tasks " + join(have) + " but " + list + " lists " + join(want) +
                "; run 'clbench prepare " + kName + "' with this list");
  }
  return tasks;
}

TaskStream make(const Config& cfg) {
  check_keys(cfg);
  const ImageSplits s = configured_splits(kName, cfg);
  const auto tasks = tasks_of(s, cfg);
  std::vector<int64_t> sizes;
  for (const auto& t : tasks) {
    if (t.classes.size() < 2 && cfg.str("scenario") == "task-il") {
      const std::string root = cfg.str("data_root");
      throw Error(std::string(kName) + ": task '" + t.name + "'" +
                  (root.empty() ? "" : " (" + list_detail::join(root, t.name) + "/train)") +
                  " has 1 class; in task-IL a task needs at least 2 (its only class is always " +
                  "right), or run --scenario class-il");
    }
    sizes.push_back(static_cast<int64_t>(t.classes.size()));
  }
  std::vector<int64_t> identity(static_cast<size_t>(s.num_classes));
  std::iota(identity.begin(), identity.end(), 0);
  return split_by_sizes(kName, configured_images(s.train, cfg), configured_images(s.test, cfg),
                        std::move(identity), sizes);
}

std::vector<OptionSpec> keys() {
  auto k =
      image_keys({augment_key("none"),
                  {kListKey, "",
                   "file naming the task folders in order, one per line ('#' comments; default "
                   "<data_root>/tasks.txt when present, else the sorted folder names)"}},
                 "imagenet");
  set_key_default(k, "test_resize", 0);
  set_key_default(k, "test_interpolation", "bilinear");
  return k;
}

const bool registered_folder_sequence = [] {
  register_image_data(kName, {[](const Config&) { return std::string(kName); }, read});
  return register_benchmark({kName,
                             "one dataset per task (CLR, SKILL): <data_root>/<task>/{train,test}/"
                             "<class>/<images>, task-IL; order from tasks.txt or sorted",
                             keys(),
                             {{"backbone", "resnet18"},
                              {"scenario", "task-il"},
                              {"optimizer", "adam"},
                              {"lr", 1e-3},
                              {"batch_size", 32},
                              {"epochs", 60},
                              {"lr_schedule", "multistep"},
                              {"lr_milestones", "20,40"},
                              {"lr_gamma", 0.1}},
                             make});
}();

}  // namespace
}  // namespace clbench
