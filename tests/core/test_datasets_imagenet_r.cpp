// ImageNet-R readers on fixtures in the CODA-Prompt split-YAML layout (as PyYAML writes
// dataloaders/splits/imagenet-r_{train,test}.yaml) and in the pre-split train/test layout.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "datasets/readers/imagenet_r.h"
#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;
using testing::TempDir;
using testing::write_jpeg;
using testing::write_text;

using Entries = std::vector<std::pair<std::string, std::string>>;  // (data, target)

// PyYAML's block style: "data:" then "- <path>" lines, "targets:" then "- <int>" lines.
// data[i] is on line 2+i, targets[i] on line 3+n+i.
std::string coda_yaml(const Entries& entries) {
  std::string data = "data:\n", targets = "targets:\n";
  for (const auto& [path, target] : entries) {
    data += "- " + path + "\n";
    targets += "- " + target + "\n";
  }
  return data + targets;
}

// Labels are not sorted-WNID order (as in CODA's lists).
Entries train_entries() {
  return {{"data/imagenet-r/n02165456/art_0.jpg", "0"},
          {"data/imagenet-r/n01443537/cartoon_3.jpg", "2"},
          {"data/imagenet-r/n03594945/sketch_1.jpg", "1"},
          {"data/imagenet-r/n02165456/misc_7.jpg", "0"}};
}
Entries test_entries() {
  return {{"data/imagenet-r/n03594945/toy_2.jpg", "1"},
          {"data/imagenet-r/n01443537/tattoo_5.jpg", "2"}};
}

struct Fixture {
  TempDir dir;
  std::string train = dir.path("imagenet-r_train.yaml");
  std::string test = dir.path("imagenet-r_test.yaml");
  std::string root = dir.path("imagenet-r");

  explicit Fixture(const Entries& tr = train_entries(), const Entries& te = test_entries()) {
    write_text(train, coda_yaml(tr));
    write_text(test, coda_yaml(te));
    int seed = 0;
    for (const auto* list : {&tr, &te})
      for (const auto& e : *list)
        write_jpeg(root + "/" + e.first.substr(std::string("data/imagenet-r/").size()), seed++);
  }
  SplitRecords read(const ImagenetRYamlOptions& o = {}) const {
    return read_imagenet_r_coda(train, test, root, o);
  }
};

TEST(ImagenetR, ReadsCodaLists) {
  Fixture f;
  ImagenetRYamlOptions opt;
  opt.check_files = true;
  const SplitRecords s = f.read(opt);
  EXPECT_EQ(s.num_classes, 200);
  ASSERT_EQ(s.train.size(), 4u);
  ASSERT_EQ(s.test.size(), 2u);
  EXPECT_EQ(s.train[1].path, f.root + "/n01443537/cartoon_3.jpg");
  EXPECT_EQ(s.train[1].label, 2);
  EXPECT_EQ(s.train[2].label, 1);
  EXPECT_EQ(s.test[0].path, f.root + "/n03594945/toy_2.jpg");
  EXPECT_EQ(s.test[0].label, 1);
  ASSERT_EQ(s.class_names.size(), 200u);
  EXPECT_EQ(s.class_names[0], "n02165456");
  EXPECT_EQ(s.class_names[1], "n03594945");
  EXPECT_EQ(s.class_names[2], "n01443537");
  EXPECT_EQ(s.class_names[3], "");
}

TEST(ImagenetR, ChecksFilesAndCountsOnlyWhenAsked) {
  Fixture f;
  fs::remove(f.root + "/n03594945/sketch_1.jpg");
  EXPECT_NO_THROW(f.read());
  ImagenetRYamlOptions opt;
  opt.check_files = true;
  expect_error([&] { f.read(opt); },
               {"imagenet-r_train.yaml:4:", "data[2]", "missing on disk", "sketch_1.jpg"});
  opt = ImagenetRYamlOptions();
  opt.check_counts = true;
  expect_error([&] { f.read(opt); }, {"4 / 2 entries over 3 labels", "24000 / 6000"});
}

TEST(ImagenetR, ReadsGzipListsAndOtherPrefixes) {
  Fixture f;
  const std::string gz = f.dir.path("imagenet-r_train.yaml.gz");
  const std::string text = coda_yaml(train_entries());
  gzFile g = gzopen(gz.c_str(), "wb");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(gzwrite(g, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(g), Z_OK);
  EXPECT_EQ(read_imagenet_r_coda(gz, f.test, f.root).train.size(), 4u);

  // Lists that name the files relative to the root already (no prefix).
  Entries bare = train_entries();
  for (auto& e : bare) e.first = e.first.substr(std::string("data/imagenet-r/").size());
  write_text(f.train, coda_yaml(bare));
  write_text(f.test, coda_yaml({{"n03594945/toy_2.jpg", "1"}}));
  ImagenetRYamlOptions opt;
  opt.strip_prefix = "";
  EXPECT_EQ(f.read(opt).train[0].path, f.root + "/n02165456/art_0.jpg");
  expect_error([&] { f.read(); }, {"imagenet-r_train.yaml:2:", "does not start with"});
}

struct Malformed {
  bool test_file;    // edit imagenet-r_test.yaml instead of imagenet-r_train.yaml
  std::string text;  // the whole file
  std::vector<std::string> expected;
};

// Train list text with entry i replaced (data, target).
std::string train_with(size_t i, const std::string& data, const std::string& target) {
  Entries e = train_entries();
  if (!data.empty()) e[i].first = data;
  if (!target.empty()) e[i].second = target;
  return coda_yaml(e);
}

TEST(ImagenetR, RejectsMalformedListsWithFileAndLine) {
  const std::string T = "imagenet-r_train.yaml:";
  std::string short_targets = coda_yaml(train_entries());
  short_targets.resize(short_targets.size() - 4);  // drop "- 0\n"
  const std::vector<Malformed> cases = {
      {false, train_with(2, "", "200"), {T + "9:", "targets[2]", "label 200 out of range 0..199"}},
      {false, train_with(2, "", "-1"), {T + "9:", "targets[2]", "label -1 out of range"}},
      {false, train_with(1, "", "two"), {T + "8:", "targets[1]", "'two' is not an integer"}},
      {false, train_with(0, "", "0.5"), {T + "7:", "targets[0]", "not an integer"}},
      {false, train_with(3, "", "1"), {T + "5:", "data[3]", "n02165456", "n03594945"}},
      {false, train_with(1, "", "0"), {T + "3:", "data[1]", "n01443537", "n02165456"}},
      {false, short_targets, {T + "6:", "'targets' has 3 entries but 'data' has 4"}},
      {false,
       train_with(0, "imagenet-r/n02165456/art_0.jpg", ""),
       {T + "2:", "data[0]", "does not start with 'data/imagenet-r/'"}},
      {false,
       train_with(1, "data/imagenet-r/cats/cartoon_3.jpg", ""),
       {T + "3:", "data[1]", "'cats' is not a WordNet id"}},
      {false,
       train_with(1, "data/imagenet-r/../n01443537/cartoon_3.jpg", ""),
       {T + "3:", "leaves the data root"}},
      {false, train_with(1, "data/imagenet-r/art.jpg", ""), {T + "3:", "components"}},
      {false,
       train_with(3, "data/imagenet-r/n02165456/art_0.jpg", ""),
       {T + "5:", "data[3]", "already listed at", T + "2"}},
      {true,
       coda_yaml({{"data/imagenet-r/n02165456/art_0.jpg", "0"}}),
       {"imagenet-r_test.yaml:2:", "already listed at", T + "2"}},
      {false,
       "data:\n- data/imagenet-r/n02165456/a.jpg\n- ~\ntargets:\n- 0\n- 0\n",
       {T + "3:", "data[1] is empty (null)"}},
      // A bare "-" is a null too; yaml-cpp marks it at the next token (line 4).
      {false,
       "data:\n- data/imagenet-r/n02165456/a.jpg\n-\ntargets:\n- 0\n- 0\n",
       {T, "data[1] is empty (null)"}},
      {false, "data:\n- a\n- b\ntargets:\n- 0\n- null\n", {T + "6:", "targets[1] is empty"}},
      {false,
       "data:\n- data/imagenet-r/n02165456/a.jpg\n- [x, y]\ntargets:\n- 0\n- 0\n",
       {T + "3:", "data[1]", "collection"}},
      {false,
       "data:\n- data/imagenet-r/n02165456/a.jpg\ntargets: 0\n",
       {T + "3:", "'targets' must be a list"}},
      {false, "data:\n- data/imagenet-r/n02165456/a.jpg\n", {T, "no top-level list 'targets:'"}},
      {false, "- data/imagenet-r/n02165456/a.jpg\n", {T + "1:", "mapping"}},
      {false, "data: []\ntargets: []\n", {T + "1:", "empty list"}},
      {false, "data:\n- a\ndata:\n- b\ntargets:\n- 0\n", {T + "3:", "duplicate key 'data'"}},
      {false, "data:\n- data/imagenet-r/n02165456/a.jpg\n  b: c\n", {T + "3:", "YAML error"}},
      {false, "", {T, "no top-level list 'data:'"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    Fixture f;
    write_text(c.test_file ? f.test : f.train, c.text);
    expect_error([&] { f.read(); }, c.expected);
  }
}

TEST(ImagenetR, YamlParseErrorsCarryTheLine) {
  Fixture f;
  write_text(f.train, "data:\n- a\n- b\ntargets:\n- 0\n  - : : [\n");
  expect_error([&] { f.read(); }, {"imagenet-r_train.yaml:6:", "YAML error"});
}

TEST(ImagenetR, RejectsMissingListFile) {
  Fixture f;
  fs::remove(f.test);
  expect_error([&] { f.read(); }, {"missing list file", "imagenet-r_test.yaml"});
}

// <root>/{train,test}/<wnid>/*.jpg, folders made out of order.
void write_folders(const TempDir& dir) {
  for (const char* split : {"train", "test"})
    for (const char* wnid : {"n03594945", "n01443537", "n02165456"})
      for (const char* file : {"sketch_1.jpg", "art_0.jpg"})
        write_jpeg(dir.path(std::string(split) + "/" + wnid + "/" + file), 1);
}

TEST(ImagenetR, ReadsPreSplitFolders) {
  TempDir dir;
  write_folders(dir);
  const SplitRecords s = read_imagenet_r_folders(dir.root());
  EXPECT_EQ(s.num_classes, 3);
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"n01443537", "n02165456", "n03594945"}));
  ASSERT_EQ(s.train.size(), 6u);
  ASSERT_EQ(s.test.size(), 6u);
  EXPECT_EQ(s.train[0].path, dir.path("train/n01443537/art_0.jpg"));
  EXPECT_EQ(s.train[0].label, 0);
  EXPECT_EQ(s.train[5].path, dir.path("train/n03594945/sketch_1.jpg"));
  EXPECT_EQ(s.train[5].label, 2);
  EXPECT_EQ(s.test[3].label, 1);
  expect_error([&] { read_imagenet_r_folders(dir.root(), true); }, {"3 class folders", "200"});
}

TEST(ImagenetR, RejectsMismatchedOrBadFolders) {
  TempDir dir;
  write_folders(dir);
  fs::remove_all(dir.path("test/n02165456"));
  expect_error([&] { read_imagenet_r_folders(dir.root()); }, {"n02165456", "not in test/"});
  write_jpeg(dir.path("test/n02165456/a.jpg"), 0);
  write_jpeg(dir.path("train/README/a.jpg"), 0);
  write_jpeg(dir.path("test/README/a.jpg"), 0);
  expect_error([&] { read_imagenet_r_folders(dir.root()); }, {"README", "not a WordNet id"});
}

}  // namespace
}  // namespace clbench
