// DomainNet readers on fixtures in the official layout (<domain>/<class>/<file>.jpg with
// <domain>_{train,test}.txt lists) and in the CODA-Prompt/InfLoRA split-YAML layout.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/readers/domainnet.h"
#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;
using testing::TempDir;
using testing::write_jpeg;
using testing::write_lines;

// ---- Official lists: "<domain>/<class>/<domain>_<ccc>_<nnnnnn>.jpg <label>".

std::vector<std::string> official_train(const std::string& d) {
  return {d + "/aircraft_carrier/" + d + "_001_000018.jpg 0",
          d + "/apple/" + d + "_002_000001.jpg 1",
          d + "/The_Eiffel_Tower/" + d + "_300_000004.jpg 300"};
}
std::vector<std::string> official_test(const std::string& d) {
  return {d + "/apple/" + d + "_002_000007.jpg 1",
          d + "/aircraft_carrier/" + d + "_001_000020.jpg 0"};
}

// All six domains: lists and images under `root`.
void write_official(const std::string& root) {
  int seed = 0;
  for (const auto& d : domainnet_domains()) {
    const auto train = official_train(d), test = official_test(d);
    write_lines(root + "/" + d + "_train.txt", train);
    write_lines(root + "/" + d + "_test.txt", test);
    for (const auto* list : {&train, &test})
      for (const auto& line : *list)
        write_jpeg(root + "/" + line.substr(0, line.find(' ')), seed++);
  }
}

TEST(DomainNet, ReadsOneDomainFromOfficialLists) {
  TempDir dir;
  write_official(dir.root());
  DomainNetOptions opt;
  opt.check_files = true;
  const SplitRecords s = read_domainnet_domain(dir.root(), "clipart", opt);
  EXPECT_EQ(s.num_classes, 345);
  ASSERT_EQ(s.train.size(), 3u);
  ASSERT_EQ(s.test.size(), 2u);
  EXPECT_EQ(s.train[0].path, dir.path("clipart/aircraft_carrier/clipart_001_000018.jpg"));
  EXPECT_EQ(s.train[2].label, 300);
  EXPECT_EQ(s.test[0].label, 1);
  ASSERT_EQ(s.class_names.size(), 345u);
  EXPECT_EQ(s.class_names[0], "aircraft_carrier");
  EXPECT_EQ(s.class_names[300], "The_Eiffel_Tower");
  EXPECT_EQ(s.class_names[2], "");
  expect_error([&] { read_domainnet_domain(dir.root(), "cartoon"); },
               {"unknown DomainNet domain 'cartoon'"});
}

TEST(DomainNet, DomainIncrementalOffsetsLabelsBy345PerDomain) {
  TempDir dir;
  write_official(dir.root());
  const SplitRecords s = read_domainnet_domain_incremental(dir.root());
  EXPECT_EQ(s.num_classes, 6 * 345);
  ASSERT_EQ(s.train.size(), 18u);
  ASSERT_EQ(s.test.size(), 12u);
  const std::vector<int64_t> base = {0, 1, 300};
  for (int64_t d = 0; d < 6; ++d) {
    for (size_t k = 0; k < 3; ++k)
      EXPECT_EQ(s.train[static_cast<size_t>(d) * 3 + k].label, base[k] + 345 * d);
    EXPECT_EQ(s.test[static_cast<size_t>(d) * 2].label, 1 + 345 * d);
  }
  EXPECT_EQ(s.train[9].path, dir.path("quickdraw/aircraft_carrier/quickdraw_001_000018.jpg"));
  ASSERT_EQ(s.class_names.size(), 2070u);
  EXPECT_EQ(s.class_names[345 * 2 + 1], "painting/apple");
  EXPECT_EQ(s.class_names[345 * 5 + 300], "sketch/The_Eiffel_Tower");
}

TEST(DomainNet, ChecksFilesAndLabelCoverageOnlyWhenAsked) {
  TempDir dir;
  write_official(dir.root());
  fs::remove(dir.path("real/apple/real_002_000007.jpg"));
  EXPECT_NO_THROW(read_domainnet_domain_incremental(dir.root()));
  DomainNetOptions opt;
  opt.check_files = true;
  expect_error([&] { read_domainnet_domain_incremental(dir.root(), opt); },
               {"real_test.txt:1:", "missing on disk", "real_002_000007.jpg"});
  opt = DomainNetOptions();
  opt.check_counts = true;
  expect_error([&] { read_domainnet_domain(dir.root(), "clipart", opt); },
               {"clipart_train.txt", "label 2 never occurs"});
}

struct Malformed {
  std::string file;
  size_t line;
  std::string content;
  std::vector<std::string> expected;
};

TEST(DomainNet, RejectsMalformedOfficialListsWithFileAndLine) {
  const std::string C = "clipart_train.txt:";
  const std::vector<Malformed> cases = {
      {"clipart_train.txt", 2, "clipart/apple/clipart_002_000001.jpg", {C + "2:", "found 1"}},
      {"clipart_train.txt", 2, "clipart/apple/a.jpg 1 2", {C + "2:", "found 3"}},
      {"clipart_train.txt",
       3,
       "clipart/zebra/a.jpg 345",
       {C + "3:", "label 345 out of range 0..344"}},
      {"clipart_train.txt", 3, "clipart/zebra/a.jpg -2", {C + "3:", "label -2 out of range"}},
      {"clipart_train.txt", 1, "clipart/zebra/a.jpg one", {C + "1:", "'one' is not an integer"}},
      {"clipart_train.txt",
       2,
       "sketch/apple/a.jpg 1",
       {C + "2:", "not in the domain folder 'clipart/'"}},
      {"clipart_train.txt", 2, "clipart/apple.jpg 1", {C + "2:", "components"}},
      {"clipart_train.txt", 2, "clipart/apple/a.jpg 0", {C + "2:", "'apple'", "aircraft_carrier"}},
      {"clipart_train.txt", 3, "clipart/apple/a.jpg 2", {C + "3:", "'apple' has label 2", C + "2"}},
      {"clipart_train.txt",
       2,
       "clipart/aircraft_carrier/clipart_001_000018.jpg 0",
       {C + "2:", "already listed at", C + "1"}},
      {"clipart_test.txt",
       1,
       "clipart/apple/clipart_002_000001.jpg 1",
       {"clipart_test.txt:1:", "already listed at", C + "2"}},
      {"painting_train.txt", 2, "painting/apple/a.jpg 5", {"painting_train.txt:2:", "'apple'"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + " = '" + c.content + "'");
    TempDir dir;
    write_official(dir.root());
    const std::string domain = c.file.substr(0, c.file.find('_'));
    auto lines =
        c.file.find("train") != std::string::npos ? official_train(domain) : official_test(domain);
    lines.at(c.line - 1) = c.content;
    write_lines(dir.path(c.file), lines);
    expect_error([&] { read_domainnet_domain_incremental(dir.root()); }, c.expected);
  }
}

TEST(DomainNet, RejectsMissingOrEmptyList) {
  TempDir dir;
  write_official(dir.root());
  fs::remove(dir.path("sketch_test.txt"));
  expect_error([&] { read_domainnet_domain_incremental(dir.root()); },
               {"missing list file", "sketch_test.txt"});
  write_lines(dir.path("sketch_test.txt"), {""});
  expect_error([&] { read_domainnet_domain(dir.root(), "sketch"); },
               {"sketch_test.txt", "no entries"});
}

// ---- CODA/InfLoRA YAML: top-level lists data, domains, targets (PyYAML block style).

struct CodaEntry {
  std::string data, domain, target;
};

// With n entries: data[i] on line 2+i, domains[i] on line 3+n+i, targets[i] on line 4+2n+i.
std::string coda_yaml(const std::vector<CodaEntry>& entries) {
  std::string data = "data:\n", domains = "domains:\n", targets = "targets:\n";
  for (const auto& e : entries) {
    data += "- " + e.data + "\n";
    domains += "- " + e.domain + "\n";
    targets += "- " + e.target + "\n";
  }
  return data + domains + targets;
}

// CODA's custom label map: megaphone 0, toothbrush 1, The_Eiffel_Tower 10; no quickdraw.
std::vector<CodaEntry> coda_train() {
  return {{"painting/megaphone/painting_191_000001.jpg", "painting", "0"},
          {"real/toothbrush/real_316_000002.jpg", "real", "1"},
          {"clipart/The_Eiffel_Tower/clipart_001_000003.jpg", "clipart", "10"},
          {"sketch/megaphone/sketch_191_000004.jpg", "sketch", "0"}};
}
std::vector<CodaEntry> coda_test() {
  return {{"infograph/toothbrush/infograph_316_000005.jpg", "infograph", "1"}};
}

struct CodaFixture {
  TempDir dir;
  std::string train = dir.path("domainnet_train.yaml");
  std::string test = dir.path("domainnet_test.yaml");
  std::string root = dir.path("DomainNet");

  explicit CodaFixture(const std::vector<CodaEntry>& tr = coda_train()) {
    write_lines(train, {coda_yaml(tr)});
    write_lines(test, {coda_yaml(coda_test())});
    int seed = 0;
    for (const auto& e : coda_train()) write_jpeg(root + "/" + e.data, seed++);
    for (const auto& e : coda_test()) write_jpeg(root + "/" + e.data, seed++);
  }
  SplitRecords read(const DomainNetOptions& o = {}) const {
    return read_domainnet_coda(train, test, root, o);
  }
};

TEST(DomainNet, ReadsCodaYaml) {
  CodaFixture f;
  DomainNetOptions opt;
  opt.check_files = true;
  const SplitRecords s = f.read(opt);
  EXPECT_EQ(s.num_classes, 345);
  ASSERT_EQ(s.train.size(), 4u);
  ASSERT_EQ(s.test.size(), 1u);
  EXPECT_EQ(s.train[2].path, f.root + "/clipart/The_Eiffel_Tower/clipart_001_000003.jpg");
  EXPECT_EQ(s.train[2].label, 10);
  EXPECT_EQ(s.train[3].label, 0);
  EXPECT_EQ(s.test[0].label, 1);
  EXPECT_EQ(s.class_names[0], "megaphone");
  EXPECT_EQ(s.class_names[1], "toothbrush");
  EXPECT_EQ(s.class_names[10], "The_Eiffel_Tower");
  opt = DomainNetOptions();
  opt.check_counts = true;
  expect_error([&] { f.read(opt); }, {"4 / 1 entries over 3 labels", "338804 / 84702"});
}

TEST(DomainNet, CodaYamlStripsAConfiguredPrefix) {
  auto entries = coda_train();
  for (auto& e : entries) e.data = "data/DomainNet/" + e.data;
  CodaFixture f(entries);
  write_lines(f.test, {coda_yaml({{"data/DomainNet/" + coda_test()[0].data, "infograph", "1"}})});
  DomainNetOptions opt;
  opt.strip_prefix = "data/DomainNet/";
  opt.check_files = true;
  EXPECT_EQ(f.read(opt).train[0].path, f.root + "/painting/megaphone/painting_191_000001.jpg");
  expect_error([&] { f.read(); },
               {"domainnet_train.yaml:2:", "data[0]", "not in the domain folder"});
  opt.strip_prefix = "DomainNet/";
  expect_error([&] { f.read(opt); },
               {"domainnet_train.yaml:2:", "does not start with 'DomainNet/'"});
}

TEST(DomainNet, RejectsMalformedCodaYamlWithFileAndLine) {
  const std::string T = "domainnet_train.yaml:";
  struct Case {
    size_t index;
    CodaEntry entry;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {1,
       {"real/toothbrush/real_316_000002.jpg", "painting", "1"},
       {T + "3:", "data[1]", "'painting/'"}},
      {0, {"painting/megaphone/a.jpg", "cartoon", "0"}, {T + "7:", "domains[0]", "'cartoon'"}},
      {2,
       {"clipart/The_Eiffel_Tower/a.jpg", "clipart", "345"},
       {T + "14:", "targets[2]", "0..344"}},
      {2, {"clipart/The_Eiffel_Tower/a.jpg", "clipart", "ten"}, {T + "14:", "not an integer"}},
      {3, {"sketch/megaphone/a.jpg", "sketch", "1"}, {T + "5:", "data[3]", "'megaphone'"}},
      {3, {"sketch/toothbrush/a.jpg", "sketch", "0"}, {T + "5:", "'toothbrush'", "'megaphone'"}},
      {3,
       {"painting/megaphone/painting_191_000001.jpg", "painting", "0"},
       {T + "5:", "already listed"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.entry.data + " " + c.entry.domain + " " + c.entry.target);
    auto entries = coda_train();
    entries.at(c.index) = c.entry;
    CodaFixture f(entries);
    expect_error([&] { f.read(); }, c.expected);
  }
  CodaFixture f;
  std::string text = coda_yaml(coda_train());
  const size_t at = text.find("- real\n");
  write_lines(f.train, {text.erase(at, 7)});
  expect_error([&] { f.read(); }, {T + "6:", "'domains' has 3 entries but 'data' has 4"});
  write_lines(f.train, {"data:\n- a/b/c.jpg\ntargets:\n- 0\n"});
  expect_error([&] { f.read(); }, {T, "no top-level list 'domains:'"});
}

}  // namespace
}  // namespace clbench
