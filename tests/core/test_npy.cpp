// The NumPy .npy reader (datasets/readers/npy.h) on files laid out as numpy/lib/format.py writes
// them (versions 1.0, 2.0, 3.0), and Mammoth's processed Tiny-ImageNet folder made of them
// (datasets/readers/tiny_imagenet.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "datasets/readers/npy.h"
#include "datasets/readers/tiny_imagenet.h"
#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"
#include "tests/core/npy_fixture.h"

namespace clbench::npy_testing {

namespace fs = std::filesystem;
using testing::Bytes;
using testing::expect_error;
using testing::npy_bytes;
using testing::npy_dict;
using testing::raw_bytes;
using testing::TempDir;
using testing::write_bytes;
using testing::write_npy;

// Writes the raw bytes `text` (a whole file) to `path`.
void write_raw(const std::string& path, const std::string& text) {
  write_bytes(path, Bytes(text.begin(), text.end()));
}

// A file whose header dict is `dict`, with `data` after it.
std::string with_dict(const TempDir& dir, const std::string& dict, const std::string& data = "",
                      int major = 1) {
  const std::string path = dir.path("a.npy");
  write_raw(path, npy_bytes(dict, data, major));
  return path;
}

TEST(Npy, ReadsTheHeadersOfVersions1To3) {
  TempDir dir;
  const std::vector<int64_t> v = {1, 2, 3, 4, 5, 6};
  for (int major : {1, 2, 3}) {
    const std::string path = dir.path("v" + std::to_string(major) + ".npy");
    write_npy(path, "<i8", "(2, 3)", raw_bytes(v), major);
    const NpyHeader h = read_npy_header(path);
    EXPECT_EQ(h.major, major);
    EXPECT_EQ(h.minor, 0);
    EXPECT_EQ(h.descr, "<i8");
    EXPECT_EQ(h.type, NpyType::kInt64);
    EXPECT_EQ(h.item_size, 8);
    EXPECT_EQ(h.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(h.count(), 6);
    EXPECT_EQ(h.data_offset % 64, 0);
    EXPECT_EQ(h.data_offset + 48, static_cast<int64_t>(fs::file_size(path)));
  }
  // Key order, double quotes, no trailing comma, a scalar and an empty array are all valid.
  const std::string path = with_dict(dir,
                                     "{\"shape\": (), \"fortran_order\": False, \"descr\": "
                                     "'<f8'}",
                                     raw_bytes(std::vector<double>{2.5}));
  EXPECT_EQ(read_npy_header(path).count(), 1);
  EXPECT_TRUE(read_npy_header(path).shape.empty());
  EXPECT_EQ(read_npy_header(with_dict(dir, npy_dict("<f4", "(0, 64, 64, 3)"))).count(), 0);
}

TEST(Npy, ReadsIntegerLabelsOfEveryCommonType) {
  TempDir dir;
  write_npy(dir.path("i8.npy"), "<i8", "(4,)", raw_bytes(std::vector<int64_t>{0, 199, 7, 3}));
  write_npy(dir.path("i4.npy"), "<i4", "(3,)", raw_bytes(std::vector<int32_t>{5, 0, 42}));
  write_npy(dir.path("u1.npy"), "|u1", "(2,)", raw_bytes(std::vector<uint8_t>{9, 255}));
  write_npy(dir.path("i2.npy"), "<i2", "(1,)", raw_bytes(std::vector<int16_t>{-3}));
  EXPECT_EQ(read_npy_labels(dir.path("i8.npy"), 0, 199), (std::vector<int64_t>{0, 199, 7, 3}));
  EXPECT_EQ(read_npy_labels(dir.path("i4.npy"), 0, 199), (std::vector<int64_t>{5, 0, 42}));
  EXPECT_EQ(read_npy_labels(dir.path("u1.npy"), 0, 255), (std::vector<int64_t>{9, 255}));
  EXPECT_EQ(read_npy_labels(dir.path("i2.npy"), -5, 5), (std::vector<int64_t>{-3}));
  expect_error([&] { read_npy_labels(dir.path("i8.npy"), 0, 99); },
               {"i8.npy", "label 199 at index 1", "0..99"});
  expect_error([&] { read_npy_labels(dir.path("i2.npy"), 0, 5); }, {"i2.npy", "label -3"});
  write_npy(dir.path("f4.npy"), "<f4", "(1,)", raw_bytes(std::vector<float>{1}));
  expect_error([&] { read_npy_labels(dir.path("f4.npy"), 0, 9); }, {"f4.npy", "integers", "<f4"});
  write_npy(dir.path("2d.npy"), "<i8", "(1, 1)", raw_bytes(std::vector<int64_t>{1}));
  expect_error([&] { read_npy_labels(dir.path("2d.npy"), 0, 9); }, {"2d.npy", "1-D", "(1, 1)"});
}

TEST(Npy, FloatImagesBecomeUint8Of255TimesXTruncated) {
  TempDir dir;
  // One 1x2x3 image: np.uint8(255 * x) truncates (0.5 -> 127, 0.999 -> 254, 0.25 -> 63).
  const std::vector<float> f = {0.0f, 0.5f, 1.0f, 0.999f, 0.25f, 0.75f};
  const std::vector<double> d = {0.0, 0.5, 1.0, 0.999, 0.25, 0.75};
  const std::vector<uint8_t> expected = {0, 127, 255, 254, 63, 191};
  write_npy(dir.path("f4.npy"), "<f4", "(1, 1, 2, 3)", raw_bytes(f));
  write_npy(dir.path("f8.npy"), "<f8", "(1, 1, 2, 3)", raw_bytes(d), 2);
  write_npy(dir.path("u1.npy"), "|u1", "(1, 1, 2, 3)", raw_bytes(expected), 3);
  for (const char* name : {"f4.npy", "f8.npy", "u1.npy"}) {
    int64_t n = 0;
    EXPECT_EQ(read_npy_images(dir.path(name), 1, 2, 3, &n), expected) << name;
    EXPECT_EQ(n, 1);
  }
  expect_error(
      [&] {
        int64_t n = 0;
        read_npy_images(dir.path("f4.npy"), 2, 1, 3, &n);
      },
      {"f4.npy", "(N, 2, 1, 3)", "(1, 1, 2, 3)"});
  write_npy(dir.path("out.npy"), "<f4", "(2, 1, 1, 3)",
            raw_bytes(std::vector<float>{0, 0, 0, 0, 1.5f, 0}));
  write_npy(dir.path("nan.npy"), "<f8", "(1, 1, 1, 3)",
            raw_bytes(std::vector<double>{0, std::numeric_limits<double>::quiet_NaN(), 0}));
  write_npy(dir.path("i8.npy"), "<i8", "(1, 1, 1, 3)", raw_bytes(std::vector<int64_t>{0, 1, 2}));
  int64_t n = 0;
  expect_error([&] { read_npy_images(dir.path("out.npy"), 1, 1, 3, &n); },
               {"out.npy", "image 1", "1.5", "[0, 1]"});
  expect_error([&] { read_npy_images(dir.path("nan.npy"), 1, 1, 3, &n); },
               {"nan.npy", "image 0", "nan"});
  expect_error([&] { read_npy_images(dir.path("i8.npy"), 1, 1, 3, &n); }, {"i8.npy", "'<i8'"});
}

TEST(Npy, RejectsMalformedHeadersNamingTheFile) {
  TempDir dir;
  const std::string data = raw_bytes(std::vector<float>{1, 2});
  const struct {
    std::string dict, what;
  } bad[] = {
      {npy_dict("<f4", "(2,)", "True"), "fortran_order is True"},
      {npy_dict(">f4", "(2,)"), "big-endian"},
      {npy_dict("<c8", "(2,)"), "unsupported .npy dtype '<c8'"},
      {npy_dict("<f2", "(2,)"), "unsupported .npy dtype '<f2'"},
      {npy_dict("<f4", "(2)"), "is not a tuple"},
      {npy_dict("<f4", "(-2,)"), "non-negative integers"},
      {npy_dict("<f4", "(02,)"), "leading zero"},
      {npy_dict("<f4", "[2]"), "expected '('"},
      {npy_dict("<f4", "(99999999999999999999,)"), "too large"},
      {npy_dict("<f4", "(4294967296, 4294967296)"), "too large"},
      {"{'descr': '<f4', 'fortran_order': False}", "no 'shape' key"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
       "unknown key 'extra'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", "appears twice"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", "quoted string"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", "True or False"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", "expected ',' or '}'"},
      {npy_dict("<f4", "(2,)") + " x", "after the header dict"},
      {"('descr', '<f4')", "expected '{'"},
      {"{'descr': '<f4', 'fortran_order' False, 'shape': (2,)}", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,", "found the end of the header"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')'"},
  };
  for (const auto& b : bad) {
    const std::string path = with_dict(dir, b.dict, data);
    expect_error([&] { read_npy_header(path); }, {path, b.what});
  }
  // The magic, the version and the lengths.
  std::string file = npy_bytes(npy_dict("<f4", "(2,)"), data);
  std::string wrong = file;
  wrong[1] = 'X';
  write_raw(dir.path("magic.npy"), wrong);
  expect_error([&] { read_npy_header(dir.path("magic.npy")); }, {"magic.npy", "\\x93NUMPY"});
  wrong = file;
  wrong[6] = 4;
  write_raw(dir.path("v4.npy"), wrong);
  expect_error([&] { read_npy_header(dir.path("v4.npy")); }, {"v4.npy", "version 4.0"});
  wrong = file;
  wrong[7] = 1;
  write_raw(dir.path("v11.npy"), wrong);
  expect_error([&] { read_npy_header(dir.path("v11.npy")); }, {"v11.npy", "version 1.1"});
  write_raw(dir.path("truncated.npy"), file.substr(0, file.size() - 1));
  expect_error([&] { read_npy_header(dir.path("truncated.npy")); },
               {"truncated.npy", "7 bytes of data", "needs 8", "truncated"});
  write_raw(dir.path("long.npy"), file + "xx");
  expect_error([&] { read_npy_header(dir.path("long.npy")); },
               {"long.npy", "bytes after the array"});
  write_raw(dir.path("cut.npy"), file.substr(0, 40));
  expect_error([&] { read_npy_header(dir.path("cut.npy")); }, {"cut.npy", "longer than the file"});
  write_raw(dir.path("short.npy"), file.substr(0, 9));
  expect_error([&] { read_npy_header(dir.path("short.npy")); }, {"short.npy", "header length"});
  write_raw(dir.path("empty.npy"), "");
  expect_error([&] { read_npy_header(dir.path("empty.npy")); }, {"empty.npy", "not a .npy"});
  expect_error([&] { read_npy_header(dir.path("none.npy")); }, {"missing", "none.npy"});
  // parse_npy_header on a prefix of the bytes names what it was given.
  const auto* bytes = reinterpret_cast<const uint8_t*>(file.data());
  EXPECT_EQ(parse_npy_header(bytes, file.size(), "mem").shape, (std::vector<int64_t>{2}));
  expect_error([&] { parse_npy_header(bytes, 20, "mem"); }, {"mem:", "longer than the file"});
}

TEST(TinyImagenet, ReadsTheTwentyFilesOfEachSplitInIndexOrder) {
  TempDir dir;
  testing::write_tiny_imagenet(dir.root(), 2);
  const TinyImagenet t = read_tiny_imagenet(dir.root());
  ASSERT_EQ(t.train.labels.size(), 40u);
  ASSERT_EQ(t.test.labels.size(), 40u);
  ASSERT_EQ(t.train.pixels.size(), 40u * 64 * 64 * 3);
  for (int64_t g = 0; g < 40; ++g) EXPECT_EQ(t.train.labels[static_cast<size_t>(g)], g);
  // Image 37 (file 19, second image): HWC pixel (y, x, c) is element (y * 64 + x) * 3 + c.
  const uint8_t* img = t.test.pixels.data() + 37 * 64 * 64 * 3;
  for (int64_t i : {0, 1, 2, 3, 4, 100, 12287}) {
    EXPECT_EQ(img[i], testing::kQuarterPixels[testing::tiny_step(37, i)]) << i;
  }
  EXPECT_EQ(img[0], 127);  // (37 + 0) % 5 = 2: 0.5 -> 127
  EXPECT_EQ(tiny_imagenet_file("r", "y", "val", 7), "r/processed/y_val_07.npy");
}

TEST(TinyImagenet, AcceptsFloat64AndUint8Images) {
  for (const char* descr : {"<f8", "|u1"}) {
    TempDir dir;
    testing::write_tiny_imagenet(dir.root(), 1, descr);
    const TinyImagenet t = read_tiny_imagenet(dir.root());
    ASSERT_EQ(t.test.labels.size(), 20u) << descr;
    EXPECT_EQ(t.test.pixels[5 * 64 * 64 * 3 + 1], testing::kQuarterPixels[1]) << descr;
  }
}

TEST(TinyImagenet, RejectsCorruptOrMissingFilesNamingThem) {
  TempDir dir;
  testing::write_tiny_imagenet(dir.root(), 1);
  const std::string y = tiny_imagenet_file(dir.root(), "y", "train", 3);
  const std::string x = tiny_imagenet_file(dir.root(), "x", "val", 20);
  write_npy(y, "<i8", "(1,)", raw_bytes(std::vector<int64_t>{200}));
  expect_error([&] { read_tiny_imagenet(dir.root()); }, {"y_train_03.npy", "label 200", "0..199"});
  write_npy(y, "<i8", "(2,)", raw_bytes(std::vector<int64_t>{1, 2}));
  expect_error([&] { read_tiny_imagenet(dir.root()); },
               {"y_train_03.npy", "2 labels", "x_train_03.npy", "1 images"});
  write_npy(y, "<i8", "(1,)", raw_bytes(std::vector<int64_t>{1}));
  EXPECT_NO_THROW(read_tiny_imagenet(dir.root()));
  const Bytes whole = testing::read_bytes(x);
  write_bytes(x, Bytes(whole.begin(), whole.end() - 4));
  expect_error([&] { read_tiny_imagenet(dir.root()); }, {"x_val_20.npy", "truncated"});
  write_npy(x, "<f4", "(1, 32, 32, 3)", std::string(32 * 32 * 3 * 4, '\0'));
  expect_error([&] { read_tiny_imagenet(dir.root()); }, {"x_val_20.npy", "(N, 64, 64, 3)"});
  fs::remove(x);
  expect_error([&] { read_tiny_imagenet(dir.root()); }, {"missing", "x_val_20.npy"});
}

}  // namespace clbench::npy_testing
