#pragma once
// Benchmark registry: name -> a TaskStream built from the resolved config. A benchmark may set its
// own defaults for common keys (epochs, lr, backbone, data_root) and declare keys of its own.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/task_stream.h"
#include "harness/foundation/config.h"

namespace clbench {

struct BenchmarkEntry {
  std::string name, summary;
  std::vector<OptionSpec> keys;
  nlohmann::json defaults = nlohmann::json::object();
  std::function<TaskStream(const Config&)> make;
  bool reads_files = true;  // false: generated data (no data_root to check in a dry run)
  // Its tasks share their classes (scenario domain-il; class-il and task-il give each task's
  // classes labels of their own).
  bool domain_incremental = false;
};

// `file`: the registering file, named if another registers the same name.
bool register_benchmark(BenchmarkEntry entry, const char* file = __builtin_FILE());
const std::vector<BenchmarkEntry>& benchmarks();
const BenchmarkEntry& find_benchmark(const std::string& name);  // error lists the valid names

// The class-order algorithm the config asks for: "auto" is pycil with a seed >= 0, else identity.
std::string class_order_algorithm(const Config& cfg);
// The class order the config asks for (keys class_order, class_order_seed).
std::vector<int64_t> configured_class_order(const Config& cfg, int64_t num_classes);

// The task stream the config asks for over `num_classes` classes: the configured class order cut
// into tasks of `init_classes` classes first (0: `increment`), then `increment` each (PyCIL's
// init_cls / increment; a remainder forms a last, smaller task).
TaskStream configured_stream(const std::string& benchmark, std::shared_ptr<const Dataset> train,
                             std::shared_ptr<const Dataset> test, const Config& cfg,
                             int64_t num_classes);

}  // namespace clbench
