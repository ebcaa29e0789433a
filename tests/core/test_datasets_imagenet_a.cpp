// ImageNet-A as PILOT / SD-LoRA / APER read it (datasets/readers/imagenet_r.h): fixtures in the
// pre-split imagenet-a/{train,test}/<wnid>/<file> layout with the 200 WordNet-id folders.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/readers/imagenet_r.h"
#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"

namespace clbench::imagenet_a_testing {

namespace fs = std::filesystem;
using testing::expect_error;
using testing::TempDir;
using testing::write_jpeg;

// The WordNet id of fixture class c (sorted order = c's order).
std::string wnid(int c) {
  char s[16];
  std::snprintf(s, sizeof s, "n%08d", 1440000 + 7 * c);
  return s;
}

// <parent>/imagenet-a/{train,test}/<wnid>/: class c has two train images and one test image, plus
// files ImageFolder skips (README.txt, a .npy). Returns the imagenet-a folder.
std::string write_imagenet_a(const TempDir& dir) {
  const std::string root = dir.path("data/imagenet-a");
  for (int c = 0; c < 200; ++c) {
    const std::string train = root + "/train/" + wnid(c), test = root + "/test/" + wnid(c);
    write_jpeg(train + "/0.000_" + std::to_string(c) + ".jpg", c);
    write_jpeg(train + "/b_" + std::to_string(c) + ".JPEG", c + 1);  // extensions ignore case
    write_jpeg(test + "/0.001_" + std::to_string(c) + ".jpg", c + 2);
  }
  testing::write_text(root + "/train/" + wnid(0) + "/notes.txt", "not an image");
  testing::write_text(root + "/test/" + wnid(3) + "/x.npy", "not an image");
  testing::write_text(root + "/README.txt", "ImageNet-A");
  return root;
}

TEST(ImagenetA, ReadsTheTwoHundredFoldersInSortedWnidOrder) {
  TempDir dir;
  const std::string root = write_imagenet_a(dir);
  const SplitRecords s = read_imagenet_a_folders(root);
  EXPECT_EQ(s.num_classes, 200);
  ASSERT_EQ(s.class_names.size(), 200u);
  EXPECT_EQ(s.class_names[0], wnid(0));
  EXPECT_EQ(s.class_names[199], wnid(199));
  ASSERT_EQ(s.train.size(), 400u);
  ASSERT_EQ(s.test.size(), 200u);
  // ImageFolder order: classes sorted, files sorted by name within each ("0.000_" < "b_").
  EXPECT_EQ(s.train[2].path, root + "/train/" + wnid(1) + "/0.000_1.jpg");
  EXPECT_EQ(s.train[3].path, root + "/train/" + wnid(1) + "/b_1.JPEG");
  EXPECT_EQ(s.train[3].label, 1);
  EXPECT_EQ(s.test[57].path, root + "/test/" + wnid(57) + "/0.001_57.jpg");
  EXPECT_EQ(s.test[57].label, 57);
  // The folder above imagenet-a/ resolves to it.
  EXPECT_EQ(imagenet_a_root(dir.path("data")), root);
  EXPECT_EQ(imagenet_a_root(root), root);
  const SplitRecords above = read_imagenet_a_folders(dir.path("data"));
  EXPECT_EQ(above.train[3].path, s.train[3].path);
}

TEST(ImagenetA, RejectsAnotherClassCountOrMismatchedFolders) {
  TempDir dir;
  const std::string root = write_imagenet_a(dir);
  fs::rename(root + "/test/" + wnid(42), root + "/test/n99999999");
  expect_error([&] { read_imagenet_a_folders(root); },
               {root, "'" + wnid(42) + "'", "in train/ but not in test/"});
  fs::remove_all(root + "/test/n99999999");
  fs::remove_all(root + "/train/" + wnid(42));
  expect_error([&] { read_imagenet_a_folders(root); },
               {root + "/train", "199 class folders", "expected 200"});
  fs::create_directories(root + "/train/not_a_wnid");
  fs::create_directories(root + "/test/not_a_wnid");
  write_jpeg(root + "/train/not_a_wnid/a.jpg", 1);
  write_jpeg(root + "/test/not_a_wnid/a.jpg", 1);
  expect_error([&] { read_imagenet_a_folders(root); }, {"not_a_wnid", "not a WordNet id"});
  fs::remove_all(root + "/test");
  expect_error([&] { read_imagenet_a_folders(root); }, {"missing image folder", root + "/test"});
  expect_error([&] { read_imagenet_a_folders(dir.path("nothing")); },
               {"missing image folder", "nothing/train"});
}

TEST(ImagenetA, RejectsAnEmptyClassFolder) {
  TempDir dir;
  const std::string root = write_imagenet_a(dir);
  fs::remove(root + "/test/" + wnid(3) + "/0.001_3.jpg");  // only x.npy is left
  expect_error([&] { read_imagenet_a_folders(root); }, {wnid(3), "holds no image files"});
}

}  // namespace clbench::imagenet_a_testing
