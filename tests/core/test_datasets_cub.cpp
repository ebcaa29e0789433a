// CUB-200-2011 readers on fixtures in the CUB_200_2011/ layout (official lists, 1-based ids) and
// in the pre-split train/test ImageFolder layout.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/readers/cub200.h"
#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;
using testing::TempDir;
using testing::write_jpeg;
using testing::write_lines;

const char* const kClass1 = "001.Black_footed_Albatross";
const char* const kClass2 = "002.Laysan_Albatross";
const char* const kClass3 = "003.Sooty_Albatross";

// The four list files of CUB_200_2011/, as in the archive: 3 classes, 6 images.
struct CubLists {
  std::vector<std::string> images = {
      "1 001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg",
      "2 001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg",
      "3 002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg",
      "4 002.Laysan_Albatross/Laysan_Albatross_0003_1033.jpg",
      "5 003.Sooty_Albatross/Sooty_Albatross_0001_1071.jpg",
      "6 003.Sooty_Albatross/Sooty_Albatross_0002_796.jpg"};
  std::vector<std::string> labels = {"1 1", "2 1", "3 2", "4 2", "5 3", "6 3"};
  std::vector<std::string> split = {"1 1", "2 0", "3 1", "4 1", "5 0", "6 1"};
  std::vector<std::string> classes = {"1 001.Black_footed_Albatross", "2 002.Laysan_Albatross",
                                      "3 003.Sooty_Albatross"};

  std::vector<std::string>* file(const std::string& name) {
    if (name == "images.txt") return &images;
    if (name == "image_class_labels.txt") return &labels;
    if (name == "train_test_split.txt") return &split;
    return &classes;
  }
  void write(const TempDir& dir) const {
    write_lines(dir.path("images.txt"), images);
    write_lines(dir.path("image_class_labels.txt"), labels);
    write_lines(dir.path("train_test_split.txt"), split);
    write_lines(dir.path("classes.txt"), classes);
  }
};

void write_cub(const TempDir& dir, const CubLists& lists = CubLists()) {
  lists.write(dir);
  int seed = 0;
  for (const auto& line : lists.images)
    write_jpeg(dir.path("images/" + line.substr(line.find(' ') + 1)), seed++);
}

TEST(Cub200, ReadsOfficialSplit) {
  TempDir dir;
  write_cub(dir);
  const SplitRecords s = read_cub200_official(dir.root(), {true, false});
  EXPECT_EQ(s.num_classes, 3);
  EXPECT_EQ(s.class_names, (std::vector<std::string>{kClass1, kClass2, kClass3}));
  ASSERT_EQ(s.train.size(), 4u);
  ASSERT_EQ(s.test.size(), 2u);
  const std::vector<int64_t> train_labels = {0, 1, 1, 2}, test_labels = {0, 2};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(s.train[i].label, train_labels[i]);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(s.test[i].label, test_labels[i]);
  EXPECT_EQ(s.train[0].path,
            dir.path("images/001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg"));
  EXPECT_EQ(s.test[1].path, dir.path("images/003.Sooty_Albatross/Sooty_Albatross_0001_1071.jpg"));
}

TEST(Cub200, ToleratesCrlfAndBlankTrailingLines) {
  TempDir dir;
  CubLists lists;
  for (auto& l : lists.images) l += "\r";
  lists.split.push_back("");
  write_cub(dir, lists);
  const SplitRecords s = read_cub200_official(dir.root());
  EXPECT_EQ(s.train.size() + s.test.size(), 6u);
  EXPECT_EQ(s.test[0].path,
            dir.path("images/001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg"));
}

TEST(Cub200, ChecksImageFilesOnlyWhenAsked) {
  TempDir dir;
  write_cub(dir);
  fs::remove(dir.path("images/002.Laysan_Albatross/Laysan_Albatross_0003_1033.jpg"));
  EXPECT_NO_THROW(read_cub200_official(dir.root()));
  expect_error(
      [&] {
        read_cub200_official(dir.root(), {true, false});
      },
      {"images.txt:4:", "missing on disk", "Laysan_Albatross_0003_1033.jpg"});
}

TEST(Cub200, AnImagePathTooLongToCheckIsAClearError) {
  // Regression (found by review, reproduced with fuzz_cub200): with check_files, a listed path
  // longer than PATH_MAX made fs::is_regular_file throw std::filesystem::filesystem_error
  // ("File name too long") out of the reader instead of a clbench::Error naming file and line.
  TempDir dir;
  CubLists lists;
  std::string deep;
  for (int i = 0; i < 2100; ++i) deep += "a/";
  lists.images[0] = "1 " + deep + "b.jpg";
  lists.write(dir);
  expect_error(
      [&] {
        read_cub200_official(dir.root(), {true, false});
      },
      {"images.txt:1:", "missing on disk", "b.jpg", "(File name too long)"});
  // A list file whose path is too long is "missing" with the reason, not an exception either.
  expect_error([&] { read_cub200_official(dir.path(deep)); },
               {"missing list file", "(File name too long)"});
}

TEST(Cub200, ChecksCountsOnlyWhenAsked) {
  TempDir dir;
  write_cub(dir);
  expect_error(
      [&] {
        read_cub200_official(dir.root(), {false, true});
      },
      {"3 classes", "4 train / 2 test", "5994 / 5794"});
}

struct Malformed {
  std::string file;
  size_t line;          // 1-based line to replace
  std::string content;  // "" removes the entry (the line stays, blank)
  std::vector<std::string> expected;
};

TEST(Cub200, RejectsMalformedListsWithFileAndLine) {
  const std::vector<Malformed> cases = {
      {"images.txt", 3, "3", {"images.txt:3:", "found 1"}},
      {"images.txt", 4, "4 a.jpg b.jpg", {"images.txt:4:", "found 3"}},
      {"image_class_labels.txt", 2, "2 x", {"image_class_labels.txt:2:", "class id 'x'"}},
      {"train_test_split.txt", 5, "five 0", {"train_test_split.txt:5:", "id 'five'"}},
      {"train_test_split.txt", 5, "0 0", {"train_test_split.txt:5:", "id 0 out of range"}},
      {"image_class_labels.txt", 6, "99 3", {"image_class_labels.txt:6:", "unknown image id 99"}},
      {"train_test_split.txt", 2, "77 0", {"train_test_split.txt:2:", "unknown image id 77"}},
      {"images.txt",
       5,
       "1 003.Sooty_Albatross/Sooty_Albatross_0001_1071.jpg",
       {"images.txt:5:", "duplicate id 1", "line 1"}},
      {"image_class_labels.txt", 3, "2 2", {"image_class_labels.txt:3:", "duplicate id 2"}},
      {"image_class_labels.txt",
       5,
       "5 4",
       {"image_class_labels.txt:5:", "class id 4 out of range 1..3"}},
      {"image_class_labels.txt", 1, "1 0", {"image_class_labels.txt:1:", "class id 0"}},
      {"classes.txt", 3, "201 003.Sooty_Albatross", {"classes.txt:3:", "id 201", "1..200"}},
      {"classes.txt", 2, "", {"classes.txt", "id 2 is missing"}},
      {"classes.txt", 3, "3 003.Sooty Albatross", {"classes.txt:3:", "found 3"}},
      {"train_test_split.txt", 4, "", {"images.txt:4:", "image id 4", "train_test_split.txt"}},
      {"image_class_labels.txt", 2, "", {"images.txt:2:", "image_class_labels.txt"}},
      {"train_test_split.txt", 1, "1 2", {"train_test_split.txt:1:", "is_training_image 2"}},
      {"images.txt", 2, "2 ../../secret.jpg", {"images.txt:2:", "leaves the data root"}},
      {"images.txt", 6, "6 /abs/x.jpg", {"images.txt:6:", "not relative"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + " = '" + c.content + "'");
    TempDir dir;
    CubLists lists;
    lists.file(c.file)->at(c.line - 1) = c.content;
    lists.write(dir);
    expect_error([&] { read_cub200_official(dir.root()); }, c.expected);
  }
}

TEST(Cub200, RejectsMissingOrEmptyListFile) {
  TempDir dir;
  CubLists().write(dir);
  fs::remove(dir.path("train_test_split.txt"));
  expect_error([&] { read_cub200_official(dir.root()); }, {"missing", "train_test_split.txt"});
  write_lines(dir.path("train_test_split.txt"), {});
  expect_error([&] { read_cub200_official(dir.root()); }, {"train_test_split.txt", "no entries"});
}

// <root>/{train,test}/<NNN.Name>/*.jpg, folders made out of order.
void write_folders(const TempDir& dir) {
  for (const char* split : {"train", "test"}) {
    for (const char* cls : {kClass3, kClass1, kClass2}) {
      const std::string d = dir.path(std::string(split) + "/" + cls + "/");
      write_jpeg(d + "b_0002.jpg", 1);
      write_jpeg(d + "a_0001.jpg", 2);
    }
  }
  write_lines(dir.path("train/001.Black_footed_Albatross/notes.txt"), {"not an image"});
  write_jpeg(dir.path("train/001.Black_footed_Albatross/c_0003.JPG"), 3);
}

TEST(Cub200, ReadsPreSplitFolders) {
  TempDir dir;
  write_folders(dir);
  const SplitRecords s = read_cub200_folders(dir.root());
  EXPECT_EQ(s.num_classes, 3);
  EXPECT_EQ(s.class_names, (std::vector<std::string>{kClass1, kClass2, kClass3}));
  ASSERT_EQ(s.train.size(), 7u);
  ASSERT_EQ(s.test.size(), 6u);
  EXPECT_EQ(s.train[0].path, dir.path("train/001.Black_footed_Albatross/a_0001.jpg"));
  EXPECT_EQ(s.train[1].path, dir.path("train/001.Black_footed_Albatross/b_0002.jpg"));
  EXPECT_EQ(s.train[2].path, dir.path("train/001.Black_footed_Albatross/c_0003.JPG"));
  const std::vector<int64_t> labels = {0, 0, 0, 1, 1, 2, 2};
  for (size_t i = 0; i < labels.size(); ++i) EXPECT_EQ(s.train[i].label, labels[i]) << i;
  EXPECT_EQ(s.test[5].label, 2);
  EXPECT_EQ(s.test[5].path, dir.path("test/003.Sooty_Albatross/b_0002.jpg"));
  expect_error([&] { read_cub200_folders(dir.root(), true); }, {"3 class folders", "200"});
}

TEST(Cub200, RejectsMismatchedOrBadFolders) {
  TempDir dir;
  write_folders(dir);
  fs::remove_all(dir.path(std::string("test/") + kClass3));
  expect_error([&] { read_cub200_folders(dir.root()); }, {kClass3, "not in test/"});
  write_jpeg(dir.path(std::string("test/") + kClass3 + "/x.jpg"), 0);
  fs::create_directories(dir.path("test/004.Groove_billed_Ani"));
  expect_error([&] { read_cub200_folders(dir.root()); },
               {"004.Groove_billed_Ani", "not in train/"});
  fs::create_directories(dir.path("train/004.Groove_billed_Ani"));
  expect_error([&] { read_cub200_folders(dir.root()); },
               {"004.Groove_billed_Ani", "no image files"});
  fs::remove_all(dir.path("train/004.Groove_billed_Ani"));
  fs::remove_all(dir.path("test/004.Groove_billed_Ani"));
  fs::create_directories(dir.path("train/.ipynb_checkpoints"));
  expect_error([&] { read_cub200_folders(dir.root()); }, {".ipynb_checkpoints", "hidden"});
  fs::remove_all(dir.path("train/.ipynb_checkpoints"));
  EXPECT_NO_THROW(read_cub200_folders(dir.root()));
  fs::remove_all(dir.path("test"));
  expect_error([&] { read_cub200_folders(dir.root()); }, {"missing image folder", "test"});
}

}  // namespace
}  // namespace clbench
