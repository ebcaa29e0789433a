// CIFAR-100 binary reader on fixtures in the cifar-100-binary layout (3074-byte records).
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "datasets/readers/cifar100.h"
#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using testing::Bytes;
using testing::expect_error;
using testing::TempDir;
using testing::write_bytes;

// Pixel byte `i` (plane-major: R plane, G plane, B plane) of record `n`.
uint8_t pixel(size_t n, size_t i) {
  return static_cast<uint8_t>(n * 31 + i * 7 + i / 1024);
}

// One record: <coarse><fine><1024 R><1024 G><1024 B>.
Bytes record(size_t n, uint8_t coarse, uint8_t fine) {
  Bytes r = {coarse, fine};
  for (size_t i = 0; i < 3072; ++i) r.push_back(pixel(n, i));
  return r;
}

// A .bin file of records with the given (coarse, fine) labels.
void write_bin(const std::string& path, const std::vector<std::pair<int, int>>& labels) {
  Bytes b;
  for (size_t n = 0; n < labels.size(); ++n) {
    const Bytes r =
        record(n, static_cast<uint8_t>(labels[n].first), static_cast<uint8_t>(labels[n].second));
    b.insert(b.end(), r.begin(), r.end());
  }
  write_bytes(path, b);
}

// fine_label_names.txt as distributed: alphabetical names, one per line, blank line at the end.
void write_names(const std::string& path, int count) {
  std::ofstream out(path);
  out << "apple\naquarium_fish\n";
  for (int i = 2; i < count; ++i) out << "class_" << i << "\n";
  out << "\n";
}

void write_root(const TempDir& dir) {
  write_bin(dir.path("train.bin"), {{4, 0}, {1, 1}, {14, 99}, {4, 0}});
  write_bin(dir.path("test.bin"), {{1, 1}, {19, 57}});
  write_names(dir.path("fine_label_names.txt"), 100);
}

TEST(Cifar100, ReadsRecordsInPlaneOrder) {
  TempDir dir;
  write_bin(dir.path("train.bin"), {{4, 0}, {1, 1}, {14, 99}});
  const CifarSplit s = read_cifar100_bin(dir.path("train.bin"));
  EXPECT_EQ(s.labels, (std::vector<int64_t>{0, 1, 99}));
  ASSERT_EQ(s.pixels.size(), 3u * 3 * 32 * 32);
  // {N,3,32,32}: element (n, c, y, x) is file byte 2 + c*1024 + y*32 + x of record n.
  for (size_t n = 0; n < 3; ++n)
    for (size_t c = 0; c < 3; ++c)
      for (size_t y : {0, 5, 31})
        for (size_t x : {0, 17, 31}) {
          const size_t i = c * 1024 + y * 32 + x;
          EXPECT_EQ(s.pixels[n * 3072 + i], pixel(n, i)) << n << " " << c << " " << y << " " << x;
        }
}

TEST(Cifar100, ReadsRootWithLabelNames) {
  TempDir dir;
  write_root(dir);
  const Cifar100 d = read_cifar100(dir.root());
  EXPECT_EQ(d.train.labels.size(), 4u);
  EXPECT_EQ(d.test.labels, (std::vector<int64_t>{1, 57}));
  EXPECT_EQ(d.test.pixels.size(), 2u * 3072);
  ASSERT_EQ(d.fine_label_names.size(), 100u);
  EXPECT_EQ(d.fine_label_names[0], "apple");
  EXPECT_EQ(d.fine_label_names[1], "aquarium_fish");
  EXPECT_EQ(d.fine_label_names[99], "class_99");
}

TEST(Cifar100, ChecksExpectedCountsOnlyWhenAsked) {
  TempDir dir;
  write_root(dir);
  EXPECT_NO_THROW(read_cifar100(dir.root(), false));
  expect_error([&] { read_cifar100(dir.root(), true); }, {"train.bin", "4 records", "50000"});
  expect_error([&] { read_cifar100_bin(dir.path("test.bin"), 3); }, {"test.bin", "expected 3"});
}

TEST(Cifar100, RejectsSizeNotAMultipleOfTheRecord) {
  TempDir dir;
  Bytes b = record(0, 1, 2);
  b.resize(3074 + 1000);
  write_bytes(dir.path("train.bin"), b);
  expect_error([&] { read_cifar100_bin(dir.path("train.bin")); }, {"train.bin", "4074", "3074"});
}

TEST(Cifar100, RejectsEmptyFile) {
  TempDir dir;
  write_bytes(dir.path("test.bin"), {});
  expect_error([&] { read_cifar100_bin(dir.path("test.bin")); }, {"test.bin", "size 0"});
}

TEST(Cifar100, RejectsFineLabelAbove99) {
  TempDir dir;
  write_bin(dir.path("train.bin"), {{0, 5}, {0, 6}, {3, 100}});
  expect_error([&] { read_cifar100_bin(dir.path("train.bin")); },
               {"train.bin", "record 2", "fine label 100"});
}

TEST(Cifar100, RejectsCoarseLabelAbove19) {
  TempDir dir;
  write_bin(dir.path("test.bin"), {{20, 5}});
  expect_error([&] { read_cifar100_bin(dir.path("test.bin")); },
               {"test.bin", "record 0", "coarse label 20"});
}

TEST(Cifar100, RejectsMissingFile) {
  TempDir dir;
  expect_error([&] { read_cifar100_bin(dir.path("train.bin")); }, {"missing", "train.bin"});
}

TEST(Cifar100, RejectsBadLabelNames) {
  TempDir dir;
  write_names(dir.path("fine_label_names.txt"), 99);
  expect_error([&] { read_cifar100_label_names(dir.path("fine_label_names.txt")); },
               {"fine_label_names.txt", "99 class names", "100"});
  {
    std::ofstream out(dir.path("spaced.txt"));
    out << "apple\naquarium_fish\nbaby\nbear\nbeaver fish\n";
  }
  expect_error([&] { read_cifar100_label_names(dir.path("spaced.txt")); }, {"spaced.txt:5:"});
  {
    std::ofstream out(dir.path("gap.txt"));
    out << "apple\n\nbaby\n";
  }
  expect_error([&] { read_cifar100_label_names(dir.path("gap.txt")); }, {"gap.txt:2:"});
}

}  // namespace
}  // namespace clbench
