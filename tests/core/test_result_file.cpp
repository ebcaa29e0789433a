#include "results/result_file.h"
#include "results/show.h"

#include <gtest/gtest.h>

#include <H5Cpp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "harness/foundation/error.h"
#include "tests/common/accuracy_bits.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::Bytes;
using testing::expect_error;
using testing::read_bytes;
using testing::write_bytes;
using testing::write_text;

// A fresh folder per test, removed afterwards.
class ResultFileTest : public testing::TempDirTest {};

RunResult make_result() {
  RunResult r;
  r.method = "sdlora";
  r.benchmark = "cifar100-10";
  r.label = "sdlora-vit-b16 \xc3\xa9";  // UTF-8 survives the round trip
  r.scenario = "class-il";
  r.seed = 7;
  r.class_order_seed = 1993;
  r.class_order_algorithm = "pycil";
  r.config_json = R"({"lr": 0.008, "epochs": [20, 20]})";
  r.clbench_version = "0.1.0";
  r.status = "complete";
  r.world_size = 4;
  r.acc_class_il = {{90, 10, 5}, {95, 80, 20}, {60, 40, 85}};
  r.acc_task_il = {{91, 50, 40}, {96, 90, 45}, {88, 85, 93}};
  r.init_class_il = {10, 15, 8};
  r.init_task_il = {50, 52, 48.5};
  r.task_classes = {{3, 1}, {0, 5}, {4, 2}};
  r.class_order = {3, 1, 0, 5, 4, 2};
  r.train_counts = {1000, 1000, 1000};
  r.test_counts = {100, 200, 300};
  r.task_seconds = {12.5, 13.25, 14.0};
  r.trainable_params = {1000, 2000, 3000};
  r.stored_params = {5000, 6000, 7000};
  r.memory_samples = {100, 200, 300};
  r.memory_bytes = {79600, 159200, 238800};
  r.peak_host_bytes = {1 << 30, (1 << 30) + 4096, 3LL << 30};
  r.peak_device_bytes = {1 << 20, 2 << 20, 3 << 20};
  r.train_images_per_second = {80.0, 75.5, 71.25};
  r.other_predictions = {
      {"linear", {{80, 0, 0}, {50, 60, 0}, {30, 40, 70}}, {{90, 0, 0}, {85, 88, 0}, {80, 82, 91}}},
      {"nme-flip", r.acc_class_il, r.acc_task_il}};
  r.total_params = 86000000;
  return r;
}

void expect_metrics_eq(const Metrics& a, const Metrics& b) {
  EXPECT_EQ(a.final_acc, b.final_acc);
  EXPECT_EQ(a.final_acc_weighted, b.final_acc_weighted);
  EXPECT_EQ(a.aaa, b.aaa);
  EXPECT_EQ(a.forgetting, b.forgetting);
  EXPECT_EQ(a.bwt, b.bwt);
  EXPECT_EQ(a.fwt, b.fwt);
}

TEST_F(ResultFileTest, RoundTripKeepsEveryField) {
  const std::string file = path("runs/cifar/seed-7.h5");  // parent folders do not exist yet
  const RunResult in = make_result();
  write_result(file, in);

  EXPECT_TRUE(fs::is_regular_file(file));
  for (const auto& entry : fs::directory_iterator(fs::path(file).parent_path())) {
    EXPECT_EQ(entry.path().filename(), "seed-7.h5") << "left behind: " << entry.path();
  }

  const RunResult out = read_result(file);
  EXPECT_EQ(out.method, in.method);
  EXPECT_EQ(out.benchmark, in.benchmark);
  EXPECT_EQ(out.label, in.label);
  EXPECT_EQ(out.scenario, in.scenario);
  EXPECT_EQ(out.seed, in.seed);
  EXPECT_EQ(out.class_order_seed, in.class_order_seed);
  EXPECT_EQ(out.class_order_algorithm, in.class_order_algorithm);
  EXPECT_EQ(out.config_json, in.config_json);
  EXPECT_EQ(out.clbench_version, in.clbench_version);
  EXPECT_EQ(out.status, in.status);
  EXPECT_EQ(out.world_size, in.world_size);
  EXPECT_EQ(testing::bits(out.acc_class_il), testing::bits(in.acc_class_il));
  EXPECT_EQ(testing::bits(out.acc_task_il), testing::bits(in.acc_task_il));
  EXPECT_EQ(out.init_class_il, in.init_class_il);
  EXPECT_EQ(out.init_task_il, in.init_task_il);
  EXPECT_EQ(out.task_classes, in.task_classes);
  EXPECT_EQ(out.class_order, in.class_order);
  EXPECT_EQ(out.train_counts, in.train_counts);
  EXPECT_EQ(out.test_counts, in.test_counts);
  EXPECT_EQ(out.task_seconds, in.task_seconds);
  EXPECT_EQ(out.trainable_params, in.trainable_params);
  EXPECT_EQ(out.stored_params, in.stored_params);
  EXPECT_EQ(out.memory_samples, in.memory_samples);
  EXPECT_EQ(out.memory_bytes, in.memory_bytes);
  ASSERT_EQ(out.other_predictions.size(), 2u);
  for (size_t p = 0; p < 2; ++p) {
    EXPECT_EQ(out.other_predictions[p].name, in.other_predictions[p].name);
    EXPECT_EQ(testing::bits(out.other_predictions[p].class_il),
              testing::bits(in.other_predictions[p].class_il));
    EXPECT_EQ(testing::bits(out.other_predictions[p].task_il),
              testing::bits(in.other_predictions[p].task_il));
  }
  EXPECT_EQ(out.total_params, in.total_params);

  // write_result computed the metrics; the caller left them at zero.
  expect_metrics_eq(out.class_il,
                    compute_metrics(in.acc_class_il, in.init_class_il, in.test_counts));
  expect_metrics_eq(out.task_il, compute_metrics(in.acc_task_il, in.init_task_il, in.test_counts));
  EXPECT_DOUBLE_EQ(out.class_il.final_acc, 185.0 / 3);
  EXPECT_DOUBLE_EQ(out.task_il.final_acc, (88.0 + 85 + 93) / 3);
}

// Every dataset ("/a/b") and attribute ("/a@name", root: "/@name") below `group`.
void list_contents(const H5::Group& group, const std::string& path, std::set<std::string>& out) {
  for (int i = 0; i < group.getNumAttrs(); ++i)
    out.insert(path + "@" + group.openAttribute(static_cast<unsigned>(i)).getName());
  for (hsize_t i = 0; i < group.getNumObjs(); ++i) {
    const std::string name = group.getObjnameByIdx(i);
    const std::string child = (path == "/" ? "/" : path + "/") + name;
    if (group.childObjType(name) == H5O_TYPE_GROUP) {
      list_contents(group.openGroup(name), child, out);
    } else {
      out.insert(child);
    }
  }
}

// Every dataset and attribute result_schema() declares: "/g@{a, b}" stands for "/g@a" and "/g@b";
// "<name>" for any one path part.
std::vector<std::string> declared_contents() {
  std::vector<std::string> out;
  for (const auto& f : result_schema()) {
    size_t begin = 0;
    while (begin < f.path.size()) {
      const size_t end = std::min(f.path.find(", /", begin), f.path.size());
      const std::string one = f.path.substr(begin, end - begin);
      std::smatch group;
      if (std::regex_match(one, group, std::regex("([^@]*)@\\{(.*)\\}"))) {
        std::istringstream names(group[2].str());
        for (std::string n; std::getline(names, n, ',');)
          out.push_back(group[1].str() + "@" + n.substr(n.find_first_not_of(' ')));
      } else {
        out.push_back(one);
      }
      begin = end + 2;
    }
  }
  return out;
}

RunResult make_full_result() {
  auto r = make_result();
  r.world_sizes = {4, 2};
  r.lr_schedule = "constant per epoch";
  r.cpu = r.cpu_capability = r.cpu_kernels = r.cpu_vendor = r.cpu_blas = "x";
  r.fingerprint = "0123456789abcdef";
  return r;
}

TEST_F(ResultFileTest, AWrittenFileHoldsExactlyWhatTheSchemaDeclares) {
  const std::string file = path("full.h5");
  write_result(file, make_full_result());
  std::set<std::string> written;
  {
    H5::H5File h5(file, H5F_ACC_RDONLY);
    list_contents(h5.openGroup("/"), "/", written);
  }
  const auto declared = declared_contents();
  const auto pattern = [](const std::string& d) {
    return std::regex(std::regex_replace(d, std::regex("<name>"), "[^/@]+"));
  };
  for (const auto& w : written) {
    const bool found = std::any_of(declared.begin(), declared.end(),
                                   [&](const auto& d) { return std::regex_match(w, pattern(d)); });
    EXPECT_TRUE(found) << w << " is written but not in result_schema()";
  }
  for (const auto& d : declared) {
    const bool found = std::any_of(written.begin(), written.end(),
                                   [&](const auto& w) { return std::regex_match(w, pattern(d)); });
    EXPECT_TRUE(found) << d << " is in result_schema() but not written";
  }
}

TEST_F(ResultFileTest, TheReadmeTableIsTheSchema) {
  std::ifstream in(std::string(CLBENCH_SOURCE_DIR) + "/README.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const auto section = readme.find("\n## Result files\n");
  ASSERT_NE(section, std::string::npos);
  const auto table = readme.find("\n| path |", section);
  ASSERT_NE(table, std::string::npos) << "no table in README.md's \"Result files\"";
  const auto end = readme.find("\n\n", table + 1);
  EXPECT_EQ(readme.substr(table + 1, end - table), result_schema_table())
      << "README.md's result-file table differs from result_schema_table() (expected above)";
}

// A fixture of every schema version: the fields of that version read back as written, the later
// ones as absent (empty).
TEST_F(ResultFileTest, FilesOfEveryEarlierSchemaVersionStayReadable) {
  const RunResult in = make_full_result();
  for (int v = 1; v <= kResultSchemaVersion; ++v) {
    const std::string file = path("v" + std::to_string(v) + ".h5");
    write_result_as_version(file, in, v);
    const RunResult out = read_result(file);
    EXPECT_EQ(out.schema_version, v >= 8 ? v : 0) << "version " << v;
    EXPECT_EQ(testing::bits(out.acc_class_il), testing::bits(in.acc_class_il)) << "version " << v;
    EXPECT_EQ(testing::bits(out.acc_task_il), testing::bits(in.acc_task_il)) << "version " << v;
    EXPECT_EQ(out.task_classes, in.task_classes) << "version " << v;
    EXPECT_EQ(out.method, in.method) << "version " << v;
    EXPECT_EQ(out.config_json, in.config_json) << "version " << v;
    expect_metrics_eq(out.class_il,
                      compute_metrics(in.acc_class_il, in.init_class_il, in.test_counts));
    EXPECT_EQ(out.stored_params.empty(), v < 2) << "version " << v;
    EXPECT_EQ(out.memory_samples.empty(), v < 3) << "version " << v;
    EXPECT_EQ(out.other_predictions.empty(), v < 3) << "version " << v;
    EXPECT_EQ(out.lr_schedule.empty(), v < 5) << "version " << v;
    EXPECT_EQ(out.cpu_kernels.empty(), v < 5) << "version " << v;
    EXPECT_EQ(out.fingerprint.empty(), v < 6) << "version " << v;
    EXPECT_EQ(out.world_sizes.empty(), v < 6) << "version " << v;
    EXPECT_EQ(out.cpu_vendor.empty(), v < 7) << "version " << v;
    EXPECT_EQ(out.cpu_blas.empty(), v < 7) << "version " << v;
    EXPECT_EQ(out.peak_host_bytes.empty(), v < 10) << "version " << v;
    EXPECT_EQ(out.train_images_per_second.empty(), v < 10) << "version " << v;
    if (v >= 10) {
      EXPECT_EQ(out.peak_host_bytes, in.peak_host_bytes);
      EXPECT_EQ(out.peak_device_bytes, in.peak_device_bytes);
      EXPECT_EQ(out.train_images_per_second, in.train_images_per_second);
    }
    if (v >= 6) {
      EXPECT_EQ(out.world_sizes, in.world_sizes);
    }
    if (v >= 3) {
      EXPECT_EQ(out.memory_bytes, in.memory_bytes);
    }
  }
  // Before /task_class_counts (version 4) every row of /task_classes is a whole task: padding
  // there is a corrupt file.
  RunResult ragged = in;
  ragged.task_classes[0].pop_back();
  write_result_as_version(path("v3-ragged.h5"), ragged, 3);
  expect_error([&] { read_result(path("v3-ragged.h5")); },
               {"/task_classes[0][1] is -1", "not a class id"});
}

TEST_F(ResultFileTest, AFieldMissingFromAFileOfItsVersionIsRefusedByName) {
  const std::string file = path("seed-7.h5");
  const auto edit = [&](const std::function<void(H5::H5File&)>& change) {
    write_result(file, make_full_result());
    H5::H5File h5(file, H5F_ACC_RDWR);
    change(h5);
  };
  edit([](H5::H5File& h5) { h5.openGroup("/").removeAttr("cpu_vendor"); });  // of version 7
  expect_error([&] { read_result(file); }, {file, "missing attribute", "cpu_vendor"});
  edit([](H5::H5File& h5) { h5.unlink("/task_class_counts"); });  // of version 4
  expect_error([&] { read_result(file); }, {file, "missing dataset /task_class_counts"});
  edit([](H5::H5File& h5) {
    auto root = h5.openGroup("/");
    root.removeAttr("schema_version");
    const int64_t newer = kResultSchemaVersion + 1;
    root.createAttribute("schema_version", H5::PredType::STD_I64LE, H5::DataSpace())
        .write(H5::PredType::NATIVE_INT64, &newer);
  });
  expect_error([&] { read_result(file); },
               {file, "schema version " + std::to_string(kResultSchemaVersion + 1)});
}

TEST_F(ResultFileTest, RejectsABadPredictionNameOrMemoryLength) {
  RunResult r = make_result();
  r.other_predictions[0].name = "a/b";
  testing::expect_error([&] { write_result(path("bad.h5"), r); },
                        {"bad.h5", "prediction name 'a/b'"});
  r = make_result();
  r.memory_bytes.pop_back();
  testing::expect_error([&] { write_result(path("bad.h5"), r); }, {"bad.h5", "memory_bytes"});
  EXPECT_FALSE(fs::exists(path("bad.h5")));
}

TEST_F(ResultFileTest, OverwritesExistingFile) {
  const std::string file = path("seed-7.h5");
  RunResult r = make_result();
  r.status = "running";
  write_result(file, r);
  r.status = "complete";
  write_result(file, r);
  EXPECT_EQ(read_result(file).status, "complete");
}

TEST_F(ResultFileTest, TasksOfDifferentSizesRoundTrip) {
  RunResult r = make_result();
  r.task_classes[2].push_back(6);  // an uneven split (e.g. PyCIL's B50-Inc10)
  r.task_classes[0].pop_back();
  const std::string file = path("seed-7.h5");
  write_result(file, r);
  EXPECT_EQ(read_result(file).task_classes, r.task_classes);
  r.task_classes[1].clear();
  expect_error([&] { write_result(path("seed-8.h5"), r); }, {"seed-8.h5", "task 1 has no classes"});
  EXPECT_FALSE(fs::exists(path("seed-8.h5")));
}

TEST_F(ResultFileTest, WriteRejectsInconsistentTaskCount) {
  RunResult r = make_result();
  r.task_seconds.pop_back();
  const std::string file = path("seed-7.h5");
  expect_error([&] { write_result(file, r); }, {file, "task_seconds", "2", "T = 3"});
  r = make_result();
  r.init_task_il.pop_back();
  expect_error([&] { write_result(file, r); }, {file, "task-IL", "init"});
}

TEST_F(ResultFileTest, WriteBelowRegularFileThrows) {
  write_text(path("blocker"), "not a folder");
  const std::string direct = path("blocker/seed-0.h5");
  expect_error([&] { write_result(direct, make_result()); }, {direct});
  const std::string nested = path("blocker/sub/seed-0.h5");
  expect_error([&] { write_result(nested, make_result()); }, {nested});
}

TEST_F(ResultFileTest, WriteOntoFolderThrowsAndRemovesTempFile) {
  // The temp file can be written, but renaming it onto a non-empty folder fails.
  const std::string file = path("taken.h5");
  fs::create_directories(fs::path(file) / "child");
  expect_error([&] { write_result(file, make_result()); }, {file});
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(root())) {
    EXPECT_EQ(entry.path().filename(), "taken.h5") << "left behind: " << entry.path();
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(ResultFileTest, ReadMissingFileThrows) {
  const std::string file = path("absent.h5");
  expect_error([&] { read_result(file); }, {file, "no such file"});
}

TEST_F(ResultFileTest, ReadGarbageFileThrows) {
  const std::string file = path("garbage.h5");
  write_bytes(file, Bytes(4096, 'x'));
  expect_error([&] { read_result(file); }, {file, "not an HDF5 file"});
}

TEST_F(ResultFileTest, ReadTruncatedFileThrows) {
  const std::string good = path("good.h5");
  write_result(good, make_result());
  const Bytes bytes = read_bytes(good);
  ASSERT_GT(bytes.size(), 1000u);
  const std::string file = path("truncated.h5");
  write_bytes(file,
              Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2)));
  expect_error([&] { read_result(file); }, {file});
}

TEST_F(ResultFileTest, ReadMissingAttributeNamesKey) {
  const std::string file = path("seed-7.h5");
  write_result(file, make_result());
  {
    H5::H5File h5(file, H5F_ACC_RDWR);
    h5.openGroup("/metrics").removeAttr("aaa");
  }
  expect_error([&] { read_result(file); }, {file + ": missing attribute /metrics@aaa"});
}

TEST_F(ResultFileTest, ReadMissingDatasetNamesKey) {
  const std::string file = path("seed-7.h5");
  write_result(file, make_result());
  {
    H5::H5File h5(file, H5F_ACC_RDWR);
    h5.unlink("/time/task_seconds");
  }
  expect_error([&] { read_result(file); }, {file, "missing dataset /time/task_seconds"});
}

TEST_F(ResultFileTest, ReadWrongShapeNamesKey) {
  const std::string file = path("seed-7.h5");
  write_result(file, make_result());
  {
    H5::H5File h5(file, H5F_ACC_RDWR);
    h5.unlink("/task_train_counts");
    const hsize_t dims[1] = {2};
    h5.createDataSet("/task_train_counts", H5::PredType::STD_I64LE, H5::DataSpace(1, dims));
  }
  expect_error([&] { read_result(file); }, {file, "/task_train_counts", "shape 2", "expected 3"});
}

TEST_F(ResultFileTest, ReadsFixedLengthStringAttribute) {
  const std::string file = path("seed-7.h5");
  write_result(file, make_result());
  {
    H5::H5File h5(file, H5F_ACC_RDWR);
    h5.removeAttr("status");
    const H5::StrType type(H5::PredType::C_S1, 7);
    h5.createAttribute("status", type, H5::DataSpace(H5S_SCALAR))
        .write(type, std::string("running"));
  }
  EXPECT_EQ(read_result(file).status, "running");
}

}  // namespace
}  // namespace clbench

namespace clbench {
namespace {

// clbench show: the metrics its matrices give, the matrices (blank before a task is trained), a
// row per task and the settings, from the file as written.
TEST_F(ResultFileTest, ShowPrintsMetricsMatricesTasksAndSettings) {
  write_result(path("r.h5"), make_result());
  const std::string text = show_result(read_result(path("r.h5")));
  for (const char* expected : {
           "| class-IL | 61.67 |",  // (60 + 40 + 85) / 3
           "| task-IL | 88.67 |",   // (88 + 85 + 93) / 3
           "| task 1 | 90.00 |  |  |",
           "| task 3 | 60.00 | 40.00 | 85.00 |",
           "Class-IL accuracy of linear",
           "| 1 | 3 1 | 1000 | 100 | 12.5 | 1000 | 5000 | 100 |",
           "  lr = 0.008",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << " not in:\n" << text;
  }
}

}  // namespace
}  // namespace clbench
