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

// CIFAR-10, binary version: cifar-10-batches-bin/ as distributed (1-byte label + 3072 pixels).
namespace clbench::cifar10_testing {

using testing::Bytes;
using testing::expect_error;
using testing::TempDir;
using testing::write_bytes;

// Pixel byte `i` (R, G, B planes) of record `n` of batch file `file` (1..5 train, 6 test).
uint8_t pixel10(size_t file, size_t n, size_t i) {
  return static_cast<uint8_t>(file * 50 + n * 17 + i * 3 + i / 1024);
}

// A batch file of records with the given labels: <label><1024 R><1024 G><1024 B> each.
void write_batch(const std::string& path, size_t file, const std::vector<int>& labels) {
  Bytes b;
  for (size_t n = 0; n < labels.size(); ++n) {
    b.push_back(static_cast<uint8_t>(labels[n]));
    for (size_t i = 0; i < 3072; ++i) b.push_back(pixel10(file, n, i));
  }
  write_bytes(path, b);
}

// batches.meta.txt as distributed: the 10 names, then blank lines.
void write_cifar10(const TempDir& dir) {
  for (size_t f = 1; f <= 5; ++f) {
    write_batch(dir.path("data_batch_" + std::to_string(f) + ".bin"), f,
                {static_cast<int>(2 * f - 2), static_cast<int>(2 * f - 1)});
  }
  write_batch(dir.path("test_batch.bin"), 6, {3, 8, 0});
  testing::write_text(dir.path("batches.meta.txt"),
                      "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n\n");
}

TEST(Cifar10, ReadsTheFiveBatchesInOrderAndTheTestBatch) {
  TempDir dir;
  write_cifar10(dir);
  const Cifar10 d = read_cifar10(dir.root());
  EXPECT_EQ(d.train.labels, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(d.test.labels, (std::vector<int64_t>{3, 8, 0}));
  ASSERT_EQ(d.train.pixels.size(), 10u * 3072);
  // Train image 7 is record 1 of data_batch_4.bin; element (c, y, x) is byte 1 + c*1024 + y*32 + x.
  for (size_t c = 0; c < 3; ++c)
    for (size_t y : {0, 9, 31})
      for (size_t x : {0, 30}) {
        const size_t i = c * 1024 + y * 32 + x;
        EXPECT_EQ(d.train.pixels[7 * 3072 + i], pixel10(4, 1, i)) << c << " " << y << " " << x;
      }
  EXPECT_EQ(d.test.pixels[2 * 3072 + 5], pixel10(6, 2, 5));
  ASSERT_EQ(d.label_names.size(), 10u);
  EXPECT_EQ(d.label_names[0], "airplane");
  EXPECT_EQ(d.label_names[9], "truck");
  EXPECT_NO_THROW(read_cifar10(dir.root(), false));
  expect_error([&] { read_cifar10(dir.root(), true); }, {"data_batch_1.bin", "2 records", "10000"});
}

TEST(Cifar10, RejectsLabelAbove9TruncatedAndMissingFiles) {
  TempDir dir;
  write_cifar10(dir);
  write_batch(dir.path("data_batch_3.bin"), 3, {4, 10});
  expect_error([&] { read_cifar10(dir.root()); },
               {"data_batch_3.bin", "record 1", "label 10", "0..9"});
  write_batch(dir.path("data_batch_3.bin"), 3, {4, 5});
  Bytes b = testing::read_bytes(dir.path("test_batch.bin"));
  b.pop_back();
  write_bytes(dir.path("test_batch.bin"), b);
  expect_error([&] { read_cifar10(dir.root()); }, {"test_batch.bin", "3073-byte CIFAR-10 record"});
  write_batch(dir.path("test_batch.bin"), 6, {1});
  std::filesystem::remove(dir.path("data_batch_5.bin"));
  expect_error([&] { read_cifar10(dir.root()); }, {"missing", "data_batch_5.bin"});
  write_batch(dir.path("data_batch_5.bin"), 5, {8, 9});
  testing::write_text(dir.path("batches.meta.txt"), "airplane\nautomobile\n");
  expect_error([&] { read_cifar10(dir.root()); }, {"batches.meta.txt", "2 class names", "10"});
  // A CIFAR-100 file is not a CIFAR-10 one (3074-byte records).
  write_bytes(dir.path("c100.bin"), Bytes(3074, 0));
  expect_error([&] { read_cifar10_bin(dir.path("c100.bin")); }, {"c100.bin", "3073"});
}

}  // namespace clbench::cifar10_testing
