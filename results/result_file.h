#pragma once
// One HDF5 file per run. Its layout is declared once (result_schema(), in result_file.cpp): the
// writer, the reader and the README's "Result files" table follow that one list. Written to a
// temporary name in the same folder and renamed when complete, so a reader never sees half a file
// under the final name.
#include <cstdint>
#include <string>
#include <vector>

#include "results/metrics.h"

namespace clbench {

struct RunResult {
  // Root attributes.
  std::string method, benchmark, label, scenario;
  int64_t seed = 0;
  int64_t class_order_seed = -1;                   // -1: identity class order
  std::string class_order_algorithm = "identity";  // identity | pycil | coda
  std::string config_json;                         // full resolved config
  std::string clbench_version;
  std::string status = "complete";
  int64_t world_size = 1;
  std::string lr_schedule;     // e.g. "cosine per epoch" (harness/engine/optim.h)
  std::string cpu;             // the processor's model name
  std::string cpu_capability;  // the CPU kernels LibTorch used (e.g. AVX2, AVX512)
  std::string cpu_kernels;     // the mode: portable, avx2 or native (harness/run/cpu_kernels.h)
  std::string cpu_vendor;      // GenuineIntel, AuthenticAMD...
  std::string cpu_blas;        // the BLAS and its branch, e.g. "MKL 2024.2, branch COMPATIBLE"
  std::string fingerprint;     // results/fingerprint.h (absent in older files: "")
  std::vector<int64_t> world_sizes;  // /world_sizes: the ranks of each part of a resumed run
  // The file's schema version (kResultSchemaVersion when written; read: 0 for files before the
  // attribute, versions 1 to 7).
  int64_t schema_version = 0;

  // /accuracy/class_il, /accuracy/task_il: T x T percent. /accuracy/init (class-IL) and
  // /accuracy/init_task_il: accuracy of the untrained model on each task (length T).
  Matrix acc_class_il, acc_task_il;
  std::vector<double> init_class_il, init_task_il;
  // A method's other predictions (iCaRL's linear head next to its NME): /accuracy/other/<name>/
  // class_il and task_il (T x T), their names in order in the attribute /accuracy/other@names
  // (comma-separated). Absent when the method has none.
  struct Prediction {
    std::string name;
    Matrix class_il, task_il;
  };
  std::vector<Prediction> other_predictions;

  // Benchmark metadata: /task_classes (T x k_max original class ids, each row padded with -1) and
  // /task_class_counts (T: tasks may differ in size), /class_order (C), /task_train_counts,
  // /task_test_counts (T).
  std::vector<std::vector<int64_t>> task_classes;
  std::vector<int64_t> class_order;
  std::vector<int64_t> train_counts, test_counts;

  // /time/task_seconds (T); /params/trainable (T, per task); /params/stored (T, what the method
  // keeps after each task beyond a shared pretrained backbone; absent in older files: empty);
  // attribute /params@total.
  std::vector<double> task_seconds;
  std::vector<int64_t> trainable_params;
  std::vector<int64_t> stored_params;
  int64_t total_params = 0;
  // /@forward_passes: backbone forward passes per test image (2 for the prompt methods' query pass
  // and prompted pass; 1 in older files).
  int64_t forward_passes = 1;

  // /memory/samples and /memory/bytes (T): the replay memory after each task (samples, and the
  // bytes they take as stored: pixels, logits, task ids); absent in older files: empty.
  std::vector<int64_t> memory_samples, memory_bytes;

  // /cost/peak_host_bytes, /cost/peak_device_bytes (GPU runs only; empty otherwise) and
  // /cost/train_images_per_second (T): each task's peak resident host memory and peak allocated
  // GPU memory (the largest over the ranks) and training images (all epochs) per second of its
  // wall time; absent in older files: empty.
  std::vector<int64_t> peak_host_bytes, peak_device_bytes;
  std::vector<double> train_images_per_second;

  // /metrics (class-IL) and /metrics/task_il scalar attributes.
  Metrics class_il, task_il;
};

// The result file's layout, one entry per dataset or attribute (or group of attributes).
struct ResultField {
  std::string path;     // "/accuracy/class_il" (a dataset), "/params@total" (an attribute)
  std::string type;     // e.g. "T×T float64"
  int since = 1;        // the schema version whose files first held it
  bool always = true;   // in every file since then (false: only where the run has one)
  std::string content;  // what it holds
};

// 1: the first files; 2: /params/stored; 3: /memory, /accuracy/other; 4: /task_class_counts;
// 5: lr_schedule, cpu, cpu_capability, cpu_kernels; 6: fingerprint, /world_sizes; 7: cpu_vendor,
// cpu_blas; 8: schema_version; 9: forward_passes; 10: /cost.
constexpr int kResultSchemaVersion = 10;
const std::vector<ResultField>& result_schema();
// The README's "Result files" table: path, type, since, content.
std::string result_schema_table();

// Fills class_il/task_il from the matrices, then writes atomically. Throws clbench::Error naming
// the path when the folder cannot be created or the file cannot be written.
void write_result(const std::string& path, RunResult result);

// Writes `result` as clbench wrote files of schema `version` (1..kResultSchemaVersion): only the
// fields of that version and before. Fixtures of earlier versions.
void write_result_as_version(const std::string& path, RunResult result, int version);

// Reads a result file of any schema version. Throws clbench::Error naming the file and the missing
// or malformed key.
RunResult read_result(const std::string& path);

}  // namespace clbench
