#include "results/result_file.h"

#include <H5Cpp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/io/h5_file.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;

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
  check_length(path, "init (class-IL init accuracy)", r.init_class_il.size(), T);
  check_length(path, "init_task_il (task-IL init accuracy)", r.init_task_il.size(), T);
  check_length(path, "task_classes", r.task_classes.size(), T);
  for (size_t i = 0; i < T; ++i) {
    if (r.task_classes[i].empty()) {
      throw Error(path + ": task " + std::to_string(i) + " has no classes");
    }
  }
  check_length(path, "task_train_counts", r.train_counts.size(), T);
  check_length(path, "task_test_counts", r.test_counts.size(), T);
  check_length(path, "task_seconds", r.task_seconds.size(), T);
  check_length(path, "trainable_params", r.trainable_params.size(), T);
  if (!r.stored_params.empty()) check_length(path, "stored_params", r.stored_params.size(), T);
  check_length(path, "memory_bytes", r.memory_bytes.size(), r.memory_samples.size());
  if (!r.memory_samples.empty()) check_length(path, "memory_samples", r.memory_samples.size(), T);
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
  write_h5_attr(g, "final_acc", m.final_acc);
  write_h5_attr(g, "final_acc_weighted", m.final_acc_weighted);
  write_h5_attr(g, "aaa", m.aaa);
  write_h5_attr(g, "forgetting", m.forgetting);
  write_h5_attr(g, "bwt", m.bwt);
  write_h5_attr(g, "fwt", m.fwt);
}

void write_file(H5::H5File& h5, const RunResult& r) {
  H5::Group root = h5.openGroup("/");
  for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"method", &r.method},
                                    {"benchmark", &r.benchmark},
                                    {"label", &r.label},
                                    {"scenario", &r.scenario},
                                    {"class_order_algorithm", &r.class_order_algorithm},
                                    {"config", &r.config_json},
                                    {"clbench_version", &r.clbench_version},
                                    {"status", &r.status},
                                    {"lr_schedule", &r.lr_schedule},
                                    {"cpu", &r.cpu},
                                    {"cpu_capability", &r.cpu_capability},
                                    {"cpu_kernels", &r.cpu_kernels},
                                    {"cpu_vendor", &r.cpu_vendor},
                                    {"cpu_blas", &r.cpu_blas},
                                    {"fingerprint", &r.fingerprint}}) {
    write_h5_attr(root, name, *value);
  }
  write_h5_attr(root, "seed", r.seed);
  write_h5_attr(root, "class_order_seed", r.class_order_seed);
  write_h5_attr(root, "world_size", r.world_size);

  const hsize_t T = r.acc_class_il.size();
  H5::Group acc = h5.createGroup("/accuracy");
  write_matrix(acc, "class_il", r.acc_class_il);
  write_matrix(acc, "task_il", r.acc_task_il);
  write_doubles(acc, "init", r.init_class_il, {T});
  write_doubles(acc, "init_task_il", r.init_task_il, {T});
  if (!r.other_predictions.empty()) {
    H5::Group other = h5.createGroup("/accuracy/other");
    std::string names;
    for (const auto& p : r.other_predictions) {
      names += (names.empty() ? "" : ",") + p.name;
      H5::Group g = other.createGroup(p.name);
      write_matrix(g, "class_il", p.class_il);
      write_matrix(g, "task_il", p.task_il);
    }
    write_h5_attr(other, "names", names);
  }

  // T x k_max, each row padded with -1 after its own classes (tasks may differ in size).
  size_t k = 0;
  std::vector<int64_t> counts;
  for (const auto& row : r.task_classes) {
    k = std::max(k, row.size());
    counts.push_back(static_cast<int64_t>(row.size()));
  }
  std::vector<int64_t> classes;
  for (const auto& row : r.task_classes) {
    classes.insert(classes.end(), row.begin(), row.end());
    classes.insert(classes.end(), k - row.size(), -1);
  }
  write_ints(root, "task_classes", classes, {T, k});
  write_ints(root, "task_class_counts", counts, {T});
  write_ints(root, "class_order", r.class_order, {r.class_order.size()});
  if (!r.world_sizes.empty())
    write_ints(root, "world_sizes", r.world_sizes, {r.world_sizes.size()});
  write_ints(root, "task_train_counts", r.train_counts, {T});
  write_ints(root, "task_test_counts", r.test_counts, {T});

  H5::Group time = h5.createGroup("/time");
  write_doubles(time, "task_seconds", r.task_seconds, {T});
  H5::Group params = h5.createGroup("/params");
  write_ints(params, "trainable", r.trainable_params, {T});
  if (!r.stored_params.empty()) write_ints(params, "stored", r.stored_params, {T});
  write_h5_attr(params, "total", r.total_params);
  if (!r.memory_samples.empty()) {
    H5::Group memory = h5.createGroup("/memory");
    write_ints(memory, "samples", r.memory_samples, {T});
    write_ints(memory, "bytes", r.memory_bytes, {T});
  }

  H5::Group metrics = h5.createGroup("/metrics");
  write_metrics(metrics, r.class_il);
  H5::Group task_il = h5.createGroup("/metrics/task_il");
  write_metrics(task_il, r.task_il);
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
    m.final_acc = number(group, "final_acc");
    m.final_acc_weighted = number(group, "final_acc_weighted");
    m.aaa = number(group, "aaa");
    m.forgetting = number(group, "forgetting");
    m.bwt = number(group, "bwt");
    m.fwt = number(group, "fwt");
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

RunResult read_file(const std::string& path, H5::H5File& h5) {
  Reader rd(path, h5);
  RunResult r;
  r.method = rd.str("/", "method");
  r.benchmark = rd.str("/", "benchmark");
  r.label = rd.str("/", "label");
  r.scenario = rd.str("/", "scenario");
  r.class_order_algorithm = rd.str("/", "class_order_algorithm");
  r.config_json = rd.str("/", "config");
  r.clbench_version = rd.str("/", "clbench_version");
  r.status = rd.str("/", "status");
  for (auto [name, field] : {std::pair<const char*, std::string*>{"lr_schedule", &r.lr_schedule},
                             {"cpu", &r.cpu},
                             {"cpu_capability", &r.cpu_capability},
                             {"cpu_kernels", &r.cpu_kernels},
                             {"cpu_vendor", &r.cpu_vendor},
                             {"cpu_blas", &r.cpu_blas},
                             {"fingerprint", &r.fingerprint}}) {
    if (rd.has_attribute("/", name)) *field = rd.str("/", name);  // absent in older files
  }
  r.seed = rd.integer("/", "seed");
  r.class_order_seed = rd.integer("/", "class_order_seed");
  r.world_size = rd.integer("/", "world_size");

  const auto dims = rd.shape_of("/accuracy/class_il");
  if (dims.size() != 2 || dims[0] != dims[1] || dims[0] == 0) {
    rd.expect_shape("/accuracy/class_il", dims,
                    {dims.empty() ? 1 : dims[0], dims.empty() ? 1 : dims[0]});
    throw Error(path + ": /accuracy/class_il must be a non-empty square matrix");
  }
  const hsize_t T = dims[0];
  r.acc_class_il = to_matrix(rd.doubles("/accuracy/class_il", {T, T}), T);
  r.acc_task_il = to_matrix(rd.doubles("/accuracy/task_il", {T, T}), T);
  r.init_class_il = rd.doubles("/accuracy/init", {T});
  r.init_task_il = rd.doubles("/accuracy/init_task_il", {T});
  if (rd.exists("/accuracy/other")) {
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

  const auto cdims = rd.shape_of("/task_classes");
  if (cdims.size() != 2 || cdims[0] != T) {
    rd.expect_shape("/task_classes", cdims, {T, cdims.size() == 2 ? cdims[1] : 1});
  }
  const auto classes = rd.ints("/task_classes", cdims);
  // Files before ragged splits have no counts: every row is full.
  const auto counts = rd.exists("/task_class_counts")
                          ? rd.ints("/task_class_counts", {T})
                          : std::vector<int64_t>(T, static_cast<int64_t>(cdims[1]));
  for (hsize_t i = 0; i < T; ++i) {
    if (counts[i] < 1 || counts[i] > static_cast<int64_t>(cdims[1])) {
      throw Error(path + ": /task_class_counts[" + std::to_string(i) + "] is " +
                  std::to_string(counts[i]) + ", outside 1.." + std::to_string(cdims[1]));
    }
    const auto row = classes.begin() + static_cast<std::ptrdiff_t>(i * cdims[1]);
    r.task_classes.emplace_back(row, row + counts[i]);
  }
  const auto odims = rd.shape_of("/class_order");
  if (odims.size() != 1) rd.expect_shape("/class_order", odims, {odims.empty() ? 0 : odims[0]});
  r.class_order = rd.ints("/class_order", odims);
  if (rd.exists("/world_sizes")) {
    const auto wdims = rd.shape_of("/world_sizes");
    if (wdims.size() != 1) rd.expect_shape("/world_sizes", wdims, {wdims.empty() ? 0 : wdims[0]});
    r.world_sizes = rd.ints("/world_sizes", wdims);
  }
  r.train_counts = rd.ints("/task_train_counts", {T});
  r.test_counts = rd.ints("/task_test_counts", {T});
  r.task_seconds = rd.doubles("/time/task_seconds", {T});
  r.trainable_params = rd.ints("/params/trainable", {T});
  if (rd.exists("/params/stored")) r.stored_params = rd.ints("/params/stored", {T});
  if (rd.exists("/memory")) {
    r.memory_samples = rd.ints("/memory/samples", {T});
    r.memory_bytes = rd.ints("/memory/bytes", {T});
  }
  r.total_params = rd.integer("/params", "total");
  r.class_il = rd.metrics("/metrics");
  r.task_il = rd.metrics("/metrics/task_il");
  return r;
}

}  // namespace

void write_result(const std::string& path, RunResult r) {
  H5::Exception::dontPrint();
  validate(path, r);
  try {
    r.class_il = compute_metrics(r.acc_class_il, r.init_class_il, r.test_counts);
    r.task_il = compute_metrics(r.acc_task_il, r.init_task_il, r.test_counts);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  write_h5_atomically(path, [&](H5::H5File& file) { write_file(file, r); });
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
