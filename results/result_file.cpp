#include "results/result_file.h"

#include <H5Cpp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <variant>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/io/h5_file.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;

// ---- the schema ----

// How a field is laid out in the file.
enum class Layout {
  kAttribute,  // a string or integer attribute
  kPerTask,    // a dataset of T entries
  kSquare,     // a T x T dataset
  kAnyLength,  // a dataset of any length
  kMetrics,    // the attributes kMetricAttributes of a group
  kClasses,    // /task_classes (with /task_class_counts from version 4)
  kCounts,     // /task_class_counts: written and read with /task_classes
  kOthers,     // /accuracy/other/<name>/{class_il, task_il} and /accuracy/other@names
};

// Where a field lives in RunResult (none for the composite layouts).
using Member = std::variant<std::monostate, std::string RunResult::*, int64_t RunResult::*,
                            std::vector<double> RunResult::*, std::vector<int64_t> RunResult::*,
                            Matrix RunResult::*, Metrics RunResult::*>;

struct Field {
  ResultField doc;
  Layout layout;
  Member member;
};

// The attributes of a metrics group.
const std::pair<const char*, double Metrics::*> kMetricAttributes[] = {
    {"final_acc", &Metrics::final_acc},
    {"final_acc_weighted", &Metrics::final_acc_weighted},
    {"aaa", &Metrics::aaa},
    {"forgetting", &Metrics::forgetting},
    {"bwt", &Metrics::bwt},
    {"fwt", &Metrics::fwt}};

std::string metric_attributes(const std::string& group) {
  std::string s = group + "@{";
  for (const auto& [name, member] : kMetricAttributes)
    s += std::string(s.back() == '{' ? "" : ", ") + name;
  return s + "}";
}

// The layout, in the order of the README's table.
const std::vector<Field>& fields() {
  using R = RunResult;
  static const std::vector<Field> all = {
      {{"/accuracy/class_il", "T×T float64", 1, true,
        "class-IL accuracy (percent) on task j after training task i; NaN: not evaluated "
        "(j > i + 1, eval_future=next)"},
       Layout::kSquare,
       &R::acc_class_il},
      {{"/accuracy/task_il", "T×T float64", 1, true, "task-IL accuracy, likewise"},
       Layout::kSquare,
       &R::acc_task_il},
      {{"/accuracy/init", "T float64", 1, true, "class-IL accuracy of the untrained model"},
       Layout::kPerTask,
       &R::init_class_il},
      {{"/accuracy/init_task_il", "T float64", 1, true, "task-IL accuracy of the untrained model"},
       Layout::kPerTask,
       &R::init_task_il},
      {{"/accuracy/other/<name>/class_il, /accuracy/other/<name>/task_il, /accuracy/other@names",
        "T×T float64; string", 3, false,
        "a method's other predictions (iCaRL's `linear` head next to its nearest-mean-of-"
        "exemplars), their names comma-separated in order"},
       Layout::kOthers,
       {}},
      {{"/task_classes", "T×k_max int64", 1, true,
        "original class ids of each task, each row padded with −1 after its task's "
        "`task_class_counts[t]` classes (tasks may differ in size)"},
       Layout::kClasses,
       {}},
      {{"/task_class_counts", "T int64", 4, true,
        "classes per task (before version 4 every row of `/task_classes` is full)"},
       Layout::kCounts,
       {}},
      {{"/class_order", "C int64", 1, true, "the class order (original ids)"},
       Layout::kAnyLength,
       &R::class_order},
      {{"/task_train_counts", "T int64", 1, true, "training samples per task"},
       Layout::kPerTask,
       &R::train_counts},
      {{"/task_test_counts", "T int64", 1, true, "test samples per task"},
       Layout::kPerTask,
       &R::test_counts},
      {{"/time/task_seconds", "T float64", 1, true,
        "wall time per task (training + end-of-task step)"},
       Layout::kPerTask,
       &R::task_seconds},
      {{"/params/trainable", "T int64", 1, true, "parameters trained during each task"},
       Layout::kPerTask,
       &R::trainable_params},
      {{"/params/stored", "T int64", 2, true,
        "numbers the method keeps after each task beyond a shared frozen pretrained backbone"},
       Layout::kPerTask,
       &R::stored_params},
      {{"/params@total", "int64", 1, true, "parameters of the model"},
       Layout::kAttribute,
       &R::total_params},
      {{"/memory/samples", "T int64", 3, false, "the replay memory after each task, in samples"},
       Layout::kPerTask,
       &R::memory_samples},
      {{"/memory/bytes", "T int64", 3, false,
        "the bytes those samples take as stored (pixels as the dataset keeps them, an int64 "
        "label, stored logits as float32, task ids as int64); clbench itself keeps indices and "
        "reloads the un-augmented sample"},
       Layout::kPerTask,
       &R::memory_bytes},
      {{"/cost/peak_host_bytes", "T int64", 10, true,
        "peak resident host memory of each task (training + end-of-task step; the largest over "
        "the ranks; the process's high-water mark, reset at each task start)"},
       Layout::kPerTask,
       &R::peak_host_bytes},
      {{"/cost/peak_device_bytes", "T int64", 10, false,
        "on a GPU: peak bytes allocated by LibTorch's caching allocator during each task (the "
        "largest over the ranks)"},
       Layout::kPerTask,
       &R::peak_device_bytes},
      {{"/cost/train_images_per_second", "T float64", 10, true,
        "training images of each task (all epochs, every rank) per second of `/time/task_seconds`"},
       Layout::kPerTask,
       &R::train_images_per_second},
      {{metric_attributes("/metrics"), "float64", 1, true,
        "class-IL metrics, recomputed from the matrices when written"},
       Layout::kMetrics,
       &R::class_il},
      {{metric_attributes("/metrics/task_il"), "float64", 1, true, "task-IL metrics"},
       Layout::kMetrics,
       &R::task_il},
      {{"/world_sizes", "int64", 6, false,
        "the ranks of each part of the run (one entry per start: `[2, 1]` for a 2-rank run "
        "resumed on 1 rank)"},
       Layout::kAnyLength,
       &R::world_sizes},
      {{"/@method", "string", 1, true, "the method"}, Layout::kAttribute, &R::method},
      {{"/@benchmark", "string", 1, true, "the benchmark"}, Layout::kAttribute, &R::benchmark},
      {{"/@label", "string", 1, true, "the run's label (the method, or --name)"},
       Layout::kAttribute,
       &R::label},
      {{"/@scenario", "string", 1, true, "`class-il`, `task-il` or `domain-il`"},
       Layout::kAttribute,
       &R::scenario},
      {{"/@seed", "int64", 1, true, "the run's seed"}, Layout::kAttribute, &R::seed},
      {{"/@class_order_seed", "int64", 1, true, "the class order's seed (−1: identity)"},
       Layout::kAttribute,
       &R::class_order_seed},
      {{"/@class_order_algorithm", "string", 1, true, "`identity`, `pycil` or `coda`"},
       Layout::kAttribute,
       &R::class_order_algorithm},
      {{"/@config", "string", 1, true, "the resolved configuration as JSON"},
       Layout::kAttribute,
       &R::config_json},
      {{"/@clbench_version", "string", 1, true, "the clbench that wrote it"},
       Layout::kAttribute,
       &R::clbench_version},
      {{"/@status", "string", 1, true, "`complete`"}, Layout::kAttribute, &R::status},
      {{"/@world_size", "int64", 1, true, "ranks of the run's last part"},
       Layout::kAttribute,
       &R::world_size},
      {{"/@lr_schedule", "string", 5, true, "e.g. `coda-cosine per epoch`"},
       Layout::kAttribute,
       &R::lr_schedule},
      {{"/@cpu", "string", 5, true, "the processor"}, Layout::kAttribute, &R::cpu},
      {{"/@cpu_capability", "string", 5, true,
        "the CPU kernels LibTorch ran: `AVX2`, `AVX512`, ..."},
       Layout::kAttribute,
       &R::cpu_capability},
      {{"/@cpu_kernels", "string", 5, true, "the mode: `portable`, `avx2` or `native`"},
       Layout::kAttribute,
       &R::cpu_kernels},
      {{"/@fingerprint", "string", 6, true,
        "16 hex digits: the settings that decide the numbers (below)"},
       Layout::kAttribute,
       &R::fingerprint},
      {{"/@cpu_vendor", "string", 7, true, "`GenuineIntel`, `AuthenticAMD`, ..."},
       Layout::kAttribute,
       &R::cpu_vendor},
      {{"/@cpu_blas", "string", 7, true, "the BLAS and its branch, e.g. `MKL 2024.2, branch AVX2`"},
       Layout::kAttribute,
       &R::cpu_blas},
      {{"/@schema_version", "int64", 8, true, "this layout's version"},
       Layout::kAttribute,
       &R::schema_version},
      {{"/@forward_passes", "int64", 9, true,
        "backbone forward passes per test image (the prompt methods: 2, a prompt-free query pass "
        "and the prompted pass)"},
       Layout::kAttribute,
       &R::forward_passes},
  };
  return all;
}

// "/a/b@name" -> ("/a/b", "name"); "/@name" -> ("/", "name"); "/a/b" -> ("/a/b", "").
std::pair<std::string, std::string> split_attribute(const std::string& path) {
  const auto at = path.find('@');
  if (at == std::string::npos) return {path, ""};
  return {at == 1 ? "/" : path.substr(0, at), path.substr(at + 1)};
}

// The entries of a vector field (0 for the other kinds).
size_t entries(const Field& f, const RunResult& r) {
  if (const auto* reals = std::get_if<std::vector<double> RunResult::*>(&f.member))
    return (r.**reals).size();
  if (const auto* ints = std::get_if<std::vector<int64_t> RunResult::*>(&f.member))
    return (r.**ints).size();
  return 0;
}

// ---- writing ----

void check_length(const std::string& path, const std::string& what, size_t n, size_t T) {
  if (n != T) {
    throw Error(path + ": " + what + " has " + std::to_string(n) +
                " entries, expected T = " + std::to_string(T));
  }
}

void validate(const std::string& path, const RunResult& r) {
  const size_t T = r.acc_class_il.size();
  if (T == 0) throw Error(path + ": no tasks to write (empty class-IL accuracy matrix)");
  for (size_t i = 0; i < T; ++i)
    check_length(path, "accuracy row " + std::to_string(i), r.acc_class_il[i].size(), T);
  check_length(path, "task-IL accuracy matrix", r.acc_task_il.size(), T);
  for (size_t i = 0; i < T; ++i)
    check_length(path, "task-IL accuracy row " + std::to_string(i), r.acc_task_il[i].size(), T);
  check_length(path, "memory_bytes", r.memory_bytes.size(), r.memory_samples.size());
  // Every per-task field of the schema has T entries (one the run may lack: none or T).
  for (const auto& f : fields()) {
    if (f.layout != Layout::kPerTask || (!f.doc.always && entries(f, r) == 0)) continue;
    check_length(path, f.doc.path + " (" + f.doc.content + ")", entries(f, r), T);
  }
  check_length(path, "task_classes", r.task_classes.size(), T);
  for (size_t i = 0; i < T; ++i) {
    if (r.task_classes[i].empty()) {
      throw Error(path + ": task " + std::to_string(i) + " has no classes");
    }
  }
  for (const auto& p : r.other_predictions) {
    if (p.name.empty() ||
        p.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
      throw Error(path + ": prediction name '" + p.name + "' must be [a-z0-9_-]+");
    }
    for (const auto* m : {&p.class_il, &p.task_il}) {
      check_length(path, "prediction " + p.name, m->size(), T);
      for (const auto& row : *m) check_length(path, "prediction " + p.name + " row", row.size(), T);
    }
  }
}

void write_doubles(H5::Group& g, const std::string& name, const std::vector<double>& v,
                   std::vector<hsize_t> dims) {
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  g.createDataSet(name, H5::PredType::IEEE_F64LE, space)
      .write(v.data(), H5::PredType::NATIVE_DOUBLE);
}

void write_ints(H5::Group& g, const std::string& name, const std::vector<int64_t>& v,
                std::vector<hsize_t> dims) {
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  g.createDataSet(name, H5::PredType::STD_I64LE, space).write(v.data(), H5::PredType::NATIVE_INT64);
}

void write_matrix(H5::Group& g, const std::string& name, const Matrix& m) {
  std::vector<double> flat;
  for (const auto& row : m) flat.insert(flat.end(), row.begin(), row.end());
  write_doubles(g, name, flat, {m.size(), m.empty() ? 0 : m[0].size()});
}

void write_metrics(H5::Group& g, const Metrics& m) {
  for (const auto& [name, member] : kMetricAttributes) write_h5_attr(g, name, m.*member);
}

// The group at `path`, created with its parents where missing.
H5::Group group_at(H5::H5File& h5, const std::string& path) {
  if (path.size() <= 1) return h5.openGroup("/");
  const auto slash = path.rfind('/');
  H5::Group parent = group_at(h5, slash == 0 ? "/" : path.substr(0, slash));
  const std::string name = path.substr(slash + 1);
  return parent.nameExists(name) ? parent.openGroup(name) : parent.createGroup(name);
}

// The parent group of dataset `path` and the dataset's name.
std::pair<H5::Group, std::string> parent_of(H5::H5File& h5, const std::string& path) {
  const auto slash = path.rfind('/');
  return {group_at(h5, path.substr(0, slash)), path.substr(slash + 1)};
}

void write_classes(H5::H5File& h5, const RunResult& r, bool counts) {
  const hsize_t T = r.task_classes.size();
  // T x k_max, each row padded with -1 after its own classes (tasks may differ in size).
  size_t k = 0;
  std::vector<int64_t> sizes;
  for (const auto& row : r.task_classes) {
    k = std::max(k, row.size());
    sizes.push_back(static_cast<int64_t>(row.size()));
  }
  std::vector<int64_t> classes;
  for (const auto& row : r.task_classes) {
    classes.insert(classes.end(), row.begin(), row.end());
    classes.insert(classes.end(), k - row.size(), -1);
  }
  H5::Group root = h5.openGroup("/");
  write_ints(root, "task_classes", classes, {T, k});
  if (counts) write_ints(root, "task_class_counts", sizes, {T});
}

void write_others(H5::H5File& h5, const RunResult& r) {
  if (r.other_predictions.empty()) return;
  H5::Group other = group_at(h5, "/accuracy/other");
  std::string names;
  for (const auto& p : r.other_predictions) {
    names += (names.empty() ? "" : ",") + p.name;
    H5::Group g = other.createGroup(p.name);
    write_matrix(g, "class_il", p.class_il);
    write_matrix(g, "task_il", p.task_il);
  }
  write_h5_attr(other, "names", names);
}

void write_field(H5::H5File& h5, const Field& f, const RunResult& r, int version) {
  const hsize_t T = r.acc_class_il.size();
  switch (f.layout) {
    case Layout::kAttribute: {
      const auto [object, name] = split_attribute(f.doc.path);
      H5::Group g = group_at(h5, object);
      if (const auto* text = std::get_if<std::string RunResult::*>(&f.member)) {
        write_h5_attr(g, name, r.**text);
      } else {
        write_h5_attr(g, name, r.*std::get<int64_t RunResult::*>(f.member));
      }
      return;
    }
    case Layout::kPerTask:
    case Layout::kAnyLength: {
      if (!f.doc.always && entries(f, r) == 0) return;  // the run has none
      auto [g, name] = parent_of(h5, f.doc.path);
      const hsize_t n = f.layout == Layout::kPerTask ? T : entries(f, r);
      if (const auto* reals = std::get_if<std::vector<double> RunResult::*>(&f.member)) {
        write_doubles(g, name, r.**reals, {n});
      } else {
        write_ints(g, name, r.*std::get<std::vector<int64_t> RunResult::*>(f.member), {n});
      }
      return;
    }
    case Layout::kSquare: {
      auto [g, name] = parent_of(h5, f.doc.path);
      write_matrix(g, name, r.*std::get<Matrix RunResult::*>(f.member));
      return;
    }
    case Layout::kMetrics: {
      H5::Group g = group_at(h5, split_attribute(f.doc.path).first);
      write_metrics(g, r.*std::get<Metrics RunResult::*>(f.member));
      return;
    }
    case Layout::kClasses:
      write_classes(h5, r, version >= 4);
      return;
    case Layout::kCounts:
      return;  // with kClasses
    case Layout::kOthers:
      write_others(h5, r);
      return;
  }
}

void write_file(H5::H5File& h5, const RunResult& r, int version) {
  for (const auto& f : fields()) {
    if (f.doc.since <= version) write_field(h5, f, r, version);
  }
}

// ---- reading ----

class Reader {
 public:
  Reader(const std::string& path, H5::H5File& file) : path_(path), file_(file) {}

  bool exists(const std::string& name) const {
    std::string prefix;
    size_t pos = 1;
    while (true) {
      pos = name.find('/', pos);
      prefix = name.substr(0, pos);
      if (H5Lexists(file_.getId(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
      if (pos == std::string::npos) return true;
      ++pos;
    }
  }

  H5::DataSet dataset(const std::string& name) const {
    if (!exists(name)) throw Error(path_ + ": missing dataset " + name);
    return file_.openDataSet(name);
  }

  std::vector<hsize_t> shape(const H5::DataSet& ds) const {
    H5::DataSpace space = ds.getSpace();
    std::vector<hsize_t> dims(static_cast<size_t>(space.getSimpleExtentNdims()));
    space.getSimpleExtentDims(dims.data());
    return dims;
  }

  void expect_shape(const std::string& name, const std::vector<hsize_t>& got,
                    const std::vector<hsize_t>& want) const {
    if (got == want) return;
    auto str = [](const std::vector<hsize_t>& d) {
      std::string s;
      for (size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + std::to_string(d[i]);
      return s.empty() ? std::string("scalar") : s;
    };
    throw Error(path_ + ": " + name + " has shape " + str(got) + ", expected " + str(want));
  }

  std::vector<double> doubles(const std::string& name, const std::vector<hsize_t>& want) const {
    auto ds = dataset(name);
    expect_shape(name, shape(ds), want);
    if (ds.getTypeClass() != H5T_FLOAT) throw Error(path_ + ": " + name + " is not floating point");
    std::vector<double> v(count(want));
    if (!v.empty()) ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
    return v;
  }

  std::vector<int64_t> ints(const std::string& name, const std::vector<hsize_t>& want) const {
    auto ds = dataset(name);
    expect_shape(name, shape(ds), want);
    if (ds.getTypeClass() != H5T_INTEGER) throw Error(path_ + ": " + name + " is not integer");
    std::vector<int64_t> v(count(want));
    if (!v.empty()) ds.read(v.data(), H5::PredType::NATIVE_INT64);
    return v;
  }

  // Shape of a dataset that must exist, for sizing the others.
  std::vector<hsize_t> shape_of(const std::string& name) const { return shape(dataset(name)); }

  H5::Attribute attribute(const std::string& object, const std::string& name) const {
    if ((object != "/" && !exists(object)) ||
        !H5Aexists_by_name(file_.getId(), object.c_str(), name.c_str(), H5P_DEFAULT)) {
      throw Error(path_ + ": missing attribute " + (object == "/" ? "" : object) + "@" + name);
    }
    // Through the C++ objects, which close what they open (an Attribute made from the id of
    // H5Aopen_by_name adds a reference of its own and keeps the file open after it is closed).
    return file_.openGroup(object).openAttribute(name);
  }

  bool has_attribute(const std::string& object, const std::string& name) const {
    return H5Aexists_by_name(file_.getId(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
  }

  std::string str(const std::string& object, const std::string& name) const {
    auto a = attribute(object, name);
    if (a.getTypeClass() != H5T_STRING)
      throw Error(path_ + ": attribute " + object + "@" + name + " is not a string");
    std::string value;
    a.read(a.getStrType(), value);
    return value;
  }

  int64_t integer(const std::string& object, const std::string& name) const {
    auto a = attribute(object, name);
    if (a.getTypeClass() != H5T_INTEGER)
      throw Error(path_ + ": attribute " + object + "@" + name + " is not an integer");
    int64_t v = 0;
    a.read(H5::PredType::NATIVE_INT64, &v);
    return v;
  }

  double number(const std::string& object, const std::string& name) const {
    auto a = attribute(object, name);
    if (a.getTypeClass() != H5T_FLOAT && a.getTypeClass() != H5T_INTEGER) {
      throw Error(path_ + ": attribute " + object + "@" + name + " is not a number");
    }
    double v = 0;
    a.read(H5::PredType::NATIVE_DOUBLE, &v);
    return v;
  }

  Metrics metrics(const std::string& group) const {
    Metrics m;
    for (const auto& [name, member] : kMetricAttributes) m.*member = number(group, name);
    return m;
  }

 private:
  static size_t count(const std::vector<hsize_t>& dims) {
    size_t n = 1;
    for (auto d : dims) n *= static_cast<size_t>(d);
    return n;
  }
  const std::string& path_;
  H5::H5File& file_;
};

Matrix to_matrix(const std::vector<double>& flat, size_t T) {
  Matrix m(T);
  for (size_t i = 0; i < T; ++i) m[i].assign(flat.begin() + i * T, flat.begin() + (i + 1) * T);
  return m;
}

// Whether a field must be in a file of `version` (0: a file before schema_version, 1 to 7).
bool required(const ResultField& f, int64_t version) {
  return f.always && (f.since == 1 || (version > 0 && f.since <= version));
}

void read_classes(const Reader& rd, const std::string& path, hsize_t T, bool counted,
                  RunResult& r) {
  const auto cdims = rd.shape_of("/task_classes");
  if (cdims.size() != 2 || cdims[0] != T) {
    rd.expect_shape("/task_classes", cdims, {T, cdims.size() == 2 ? cdims[1] : 1});
  }
  const auto classes = rd.ints("/task_classes", cdims);
  // Files before ragged splits have no counts: every row is full.
  const auto counts = counted ? rd.ints("/task_class_counts", {T})
                              : std::vector<int64_t>(T, static_cast<int64_t>(cdims[1]));
  for (hsize_t i = 0; i < T; ++i) {
    if (counts[i] < 1 || counts[i] > static_cast<int64_t>(cdims[1])) {
      throw Error(path + ": /task_class_counts[" + std::to_string(i) + "] is " +
                  std::to_string(counts[i]) + ", outside 1.." + std::to_string(cdims[1]));
    }
    const auto row = classes.begin() + static_cast<std::ptrdiff_t>(i * cdims[1]);
    r.task_classes.emplace_back(row, row + counts[i]);
    for (size_t j = 0; j < r.task_classes.back().size(); ++j) {
      if (r.task_classes.back()[j] >= 0) continue;
      throw Error(path + ": /task_classes[" + std::to_string(i) + "][" + std::to_string(j) +
                  "] is " + std::to_string(r.task_classes.back()[j]) + ", not a class id");
    }
  }
}

void read_others(const Reader& rd, hsize_t T, RunResult& r) {
  const std::string names = rd.str("/accuracy/other", "names");
  size_t begin = 0;
  while (begin <= names.size()) {
    const size_t end = std::min(names.find(',', begin), names.size());
    RunResult::Prediction p;
    p.name = names.substr(begin, end - begin);
    const std::string g = "/accuracy/other/" + p.name;
    p.class_il = to_matrix(rd.doubles(g + "/class_il", {T, T}), T);
    p.task_il = to_matrix(rd.doubles(g + "/task_il", {T, T}), T);
    r.other_predictions.push_back(std::move(p));
    begin = end + 1;
  }
}

// Whether the file holds field `f` (a group of attributes: its first).
bool present(const Reader& rd, const Field& f) {
  switch (f.layout) {
    case Layout::kAttribute: {
      const auto [object, name] = split_attribute(f.doc.path);
      return rd.has_attribute(object, name);
    }
    case Layout::kMetrics:
      return rd.has_attribute(split_attribute(f.doc.path).first, kMetricAttributes[0].first);
    case Layout::kOthers:
      return rd.exists("/accuracy/other");
    case Layout::kClasses:
      return rd.exists("/task_classes");
    case Layout::kCounts:
      return rd.exists("/task_class_counts");
    default:
      return rd.exists(f.doc.path);
  }
}

void read_field(const Reader& rd, const std::string& path, const Field& f, hsize_t T,
                RunResult& r) {
  switch (f.layout) {
    case Layout::kAttribute: {
      const auto [object, name] = split_attribute(f.doc.path);
      if (const auto* text = std::get_if<std::string RunResult::*>(&f.member)) {
        r.** text = rd.str(object, name);
      } else {
        r.*std::get<int64_t RunResult::*>(f.member) = rd.integer(object, name);
      }
      return;
    }
    case Layout::kPerTask:
      if (const auto* reals = std::get_if<std::vector<double> RunResult::*>(&f.member)) {
        r.** reals = rd.doubles(f.doc.path, {T});
      } else {
        r.*std::get<std::vector<int64_t> RunResult::*>(f.member) = rd.ints(f.doc.path, {T});
      }
      return;
    case Layout::kAnyLength: {
      const auto dims = rd.shape_of(f.doc.path);
      if (dims.size() != 1) rd.expect_shape(f.doc.path, dims, {dims.empty() ? 0 : dims[0]});
      r.*std::get<std::vector<int64_t> RunResult::*>(f.member) = rd.ints(f.doc.path, dims);
      return;
    }
    case Layout::kSquare:
      r.*std::get<Matrix RunResult::*>(f.member) = to_matrix(rd.doubles(f.doc.path, {T, T}), T);
      return;
    case Layout::kMetrics:
      r.*std::get<Metrics RunResult::*>(f.member) = rd.metrics(split_attribute(f.doc.path).first);
      return;
    case Layout::kClasses:
      read_classes(rd, path, T, rd.exists("/task_class_counts") || r.schema_version >= 4, r);
      return;
    case Layout::kCounts:
      return;  // with kClasses
    case Layout::kOthers:
      read_others(rd, T, r);
      return;
  }
}

RunResult read_file(const std::string& path, H5::H5File& h5) {
  Reader rd(path, h5);
  RunResult r;
  r.schema_version =
      rd.has_attribute("/", "schema_version") ? rd.integer("/", "schema_version") : 0;
  if (r.schema_version > kResultSchemaVersion || r.schema_version < 0) {
    throw Error(path + ": schema version " + std::to_string(r.schema_version) +
                " (written by a newer clbench?); this one reads versions up to " +
                std::to_string(kResultSchemaVersion));
  }
  const auto dims = rd.shape_of("/accuracy/class_il");
  if (dims.size() != 2 || dims[0] != dims[1] || dims[0] == 0) {
    rd.expect_shape("/accuracy/class_il", dims,
                    {dims.empty() ? 1 : dims[0], dims.empty() ? 1 : dims[0]});
    throw Error(path + ": /accuracy/class_il must be a non-empty square matrix");
  }
  const hsize_t T = dims[0];
  for (const auto& f : fields()) {
    // A field of the file's version that is missing: read it anyway, for the reader's error.
    if (present(rd, f) || required(f.doc, r.schema_version)) read_field(rd, path, f, T, r);
  }
  return r;
}

}  // namespace

const std::vector<ResultField>& result_schema() {
  static const std::vector<ResultField> docs = [] {
    std::vector<ResultField> out;
    for (const auto& f : fields()) out.push_back(f.doc);
    return out;
  }();
  return docs;
}

std::string result_schema_table() {
  std::string table = "| path | type | since | content |\n|---|---|---|---|\n";
  for (const auto& f : result_schema()) {
    std::string paths;
    size_t begin = 0;
    while (begin < f.path.size()) {  // each path of a row in its own code span
      const size_t end = std::min(f.path.find(", /", begin), f.path.size());
      paths += (paths.empty() ? "`" : ", `") + f.path.substr(begin, end - begin) + "`";
      begin = end + 2;
    }
    table += "| " + paths + " | " + f.type + " | " + std::to_string(f.since) +
             (f.always ? "" : " (where it applies)") + " | " + f.content + " |\n";
  }
  return table;
}

void write_result(const std::string& path, RunResult r) {
  write_result_as_version(path, std::move(r), kResultSchemaVersion);
}

void write_result_as_version(const std::string& path, RunResult r, int version) {
  if (version < 1 || version > kResultSchemaVersion)
    throw Error("internal: no result schema version " + std::to_string(version));
  r.schema_version = version;
  H5::Exception::dontPrint();
  validate(path, r);
  try {
    r.class_il = compute_metrics(r.acc_class_il, r.init_class_il, r.test_counts);
    r.task_il = compute_metrics(r.acc_task_il, r.init_task_il, r.test_counts);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  write_h5_atomically(path, [&](H5::H5File& file) { write_file(file, r, version); });
}

RunResult read_result(const std::string& path) {
  H5::Exception::dontPrint();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(path + ": no such file");
  check_readable(path);
  errno = 0;
  try {
    if (!H5::H5File::isHdf5(path)) throw Error(path + ": not an HDF5 file");
    H5::H5File h5(path, H5F_ACC_RDONLY);
    return read_file(path, h5);
  } catch (const H5::Exception& e) {
    const int why = errno;
    if (is_system_failure(why)) {
      throw SystemError("cannot read " + path + ": " + std::strerror(why));
    }
    throw Error(path + ": unreadable HDF5 file (" + h5_detail(e) + ")");
  }
}

}  // namespace clbench
