#include "datasets/readers/idx.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using testing::Bytes;
using testing::expect_error;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

// An IDX image: magic 0,0,type,ndims; big-endian int32 dims; then the data.
Bytes idx_bytes(const std::vector<uint32_t>& dims, const Bytes& data, uint8_t type = 0x08) {
  Bytes b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    b.push_back(static_cast<uint8_t>(d >> 24));
    b.push_back(static_cast<uint8_t>(d >> 16));
    b.push_back(static_cast<uint8_t>(d >> 8));
    b.push_back(static_cast<uint8_t>(d));
  }
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

Bytes iota_bytes(size_t n, uint8_t start = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(start + 7 * i);
  return b;
}

void write_gzip(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

TEST(Idx, ParsesImageArray) {
  const Bytes data = iota_bytes(12, 3);
  const IdxArray arr = parse_idx(idx_bytes({3, 2, 2}, data), "images");
  EXPECT_EQ(arr.dims, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(arr.data, data);
}

TEST(Idx, ParsesLabelArray) {
  const Bytes labels = {9, 0, 3, 3, 7};
  const IdxArray arr = parse_idx(idx_bytes({5}, labels), "labels");
  EXPECT_EQ(arr.dims, (std::vector<int64_t>{5}));
  EXPECT_EQ(arr.data, labels);
}

TEST(Idx, ParsesMultiByteDimensions) {
  // 300 = 0x0000012C exercises the big-endian decoding beyond the low byte.
  const Bytes data = iota_bytes(300 * 2);
  const IdxArray arr = parse_idx(idx_bytes({300, 2}, data), "big");
  EXPECT_EQ(arr.dims, (std::vector<int64_t>{300, 2}));
  EXPECT_EQ(arr.data, data);
}

TEST(Idx, ReadsRawAndGzipFilesAlike) {
  TempDir tmp;
  const Bytes data = iota_bytes(3 * 4 * 5, 11);
  const Bytes image = idx_bytes({3, 4, 5}, data);
  const std::string raw = tmp.path("images-idx3-ubyte");
  const std::string gz = tmp.path("images-idx3-ubyte.gz");
  write_bytes(raw, image);
  write_gzip(gz, image);
  // The .gz really is compressed (gzip magic), so the two reads take different paths.
  const Bytes gz_bytes = read_bytes(gz);
  ASSERT_GE(gz_bytes.size(), 2u);
  EXPECT_EQ(gz_bytes[0], 0x1f);
  EXPECT_EQ(gz_bytes[1], 0x8b);

  const IdxArray from_raw = read_idx(raw);
  const IdxArray from_gz = read_idx(gz);
  EXPECT_EQ(from_raw.dims, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(from_raw.data, data);
  EXPECT_EQ(from_gz.dims, from_raw.dims);
  EXPECT_EQ(from_gz.data, from_raw.data);
}

TEST(Idx, RejectsTruncatedData) {
  Bytes b = idx_bytes({3, 2, 2}, iota_bytes(12));
  b.pop_back();
  expect_error([&] { parse_idx(b, "short.idx"); }, {"short.idx", "truncated"});
}

TEST(Idx, RejectsTrailingBytes) {
  Bytes b = idx_bytes({3, 2, 2}, iota_bytes(12));
  b.push_back(0);
  expect_error([&] { parse_idx(b, "long.idx"); }, {"long.idx", "trailing"});
}

TEST(Idx, RejectsBadMagic) {
  Bytes b = idx_bytes({2}, {1, 2});
  b[0] = 1;
  expect_error([&] { parse_idx(b, "magic0.idx"); }, {"magic0.idx", "magic"});
  b = idx_bytes({2}, {1, 2});
  b[1] = 0x80;
  expect_error([&] { parse_idx(b, "magic1.idx"); }, {"magic1.idx", "magic"});
}

TEST(Idx, RejectsUnsupportedElementType) {
  // 0x0D is IDX's float type; 0x09 signed byte.
  expect_error([&] { parse_idx(idx_bytes({2}, iota_bytes(8), 0x0D), "float.idx"); },
               {"float.idx", "13"});
  expect_error([&] { parse_idx(idx_bytes({2}, iota_bytes(2), 0x09), "sbyte.idx"); }, {"sbyte.idx"});
}

TEST(Idx, RejectsZeroDimension) {
  expect_error([&] { parse_idx(idx_bytes({3, 0, 2}, {}), "zero.idx"); }, {"zero.idx"});
  expect_error([&] { parse_idx(idx_bytes({0}, {}), "zero1.idx"); }, {"zero1.idx"});
}

TEST(Idx, RejectsDimensionsWhoseProductWrapsAround) {
  // Regression (found by fuzz_idx): 2^30 * 2^6 * 2^30 = 2^66 wrapped to 0 in the running
  // product, so a 16-byte header with no data passed as a {2^30, 64, 2^30} array (a reader
  // indexing it runs off the empty buffer).
  const Bytes wrap = idx_bytes({1U << 30, 64, 1U << 30}, {});
  expect_error([&] { parse_idx(wrap, "wrap.idx"); }, {"wrap.idx", "too large"});
  const Bytes wrap4 = idx_bytes({1U << 30, 64, 1U << 28, 7}, {});  // 2^64 * 7
  expect_error([&] { parse_idx(wrap4, "wrap4.idx"); }, {"wrap4.idx", "too large"});
  // The largest accepted product, 2^36, still passes the size check (and fails on the data).
  const Bytes max = idx_bytes({1U << 30, 64}, {1});
  expect_error([&] { parse_idx(max, "max.idx"); }, {"max.idx", "promises 68719476736 bytes"});
}

TEST(Idx, RejectsBadDimensionCount) {
  expect_error([&] { parse_idx(Bytes{0, 0, 8, 0}, "nodims.idx"); }, {"nodims.idx"});
}

TEST(Idx, RejectsShortHeader) {
  expect_error([&] { parse_idx(Bytes{0, 0, 8}, "tiny.idx"); }, {"tiny.idx"});
  expect_error([&] { parse_idx(Bytes{}, "empty.idx"); }, {"empty.idx"});
}

TEST(Idx, RejectsTruncatedDimensionList) {
  // Promises 3 dimensions but holds one and a half.
  const Bytes b = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0};
  expect_error([&] { parse_idx(b, "dims.idx"); }, {"dims.idx"});
}

TEST(Idx, MissingFileNamesPath) {
  TempDir tmp;
  const std::string path = tmp.path("no-such-file-idx1-ubyte.gz");
  expect_error([&] { read_idx(path); }, {path});
}

TEST(Idx, ReadErrorsNameTheFile) {
  TempDir tmp;
  Bytes b = idx_bytes({4}, {1, 2, 3, 4});
  b.pop_back();
  const std::string raw = tmp.path("cut-labels-idx1-ubyte");
  const std::string gz = tmp.path("cut-labels-idx1-ubyte.gz");
  write_bytes(raw, b);
  write_gzip(gz, b);
  expect_error([&] { read_idx(raw); }, {raw, "truncated"});
  expect_error([&] { read_idx(gz); }, {gz, "truncated"});
}

// A 64x64 IDX image of pseudo-random bytes (an LCG started at `seed`): incompressible-ish, so the
// compressed stream is long enough to cut or corrupt meaningfully.
Bytes noise_image(uint32_t seed) {
  Bytes data(4096);
  uint32_t x = seed;
  for (auto& v : data) {
    x = x * 1103515245U + 12345U;
    v = static_cast<uint8_t>(x >> 16);
  }
  return idx_bytes({64, 64}, data);
}

// A gzip stream cut in half: zlib reports the premature end ("unexpected end of file"), which
// read_idx turns into an error naming the file (not a silently short array).
TEST(Idx, RejectsGzipCutInHalf) {
  TempDir tmp;
  const std::string full = tmp.path("full.gz");
  write_gzip(full, noise_image(12345));
  Bytes gz = read_bytes(full);
  ASSERT_GT(gz.size(), 1000u);
  gz.resize(gz.size() / 2);
  const std::string cut = tmp.path("cut-images-idx3-ubyte.gz");
  write_bytes(cut, gz);
  expect_error([&] { read_idx(cut); }, {cut, "corrupt gzip"});
}

// A valid .gz whose middle is overwritten: the inflater or the CRC check must reject it (the
// cleartext would otherwise be garbage of the right length, which the IDX checks cannot catch).
TEST(Idx, RejectsCorruptGzipBody) {
  TempDir tmp;
  const std::string full = tmp.path("full.gz");
  write_gzip(full, noise_image(777));
  Bytes gz = read_bytes(full);
  ASSERT_GT(gz.size(), 1000u);
  for (size_t i = gz.size() / 2 - 50; i < gz.size() / 2 + 50; ++i) gz[i] ^= 0xA5;
  const std::string bad = tmp.path("corrupt-images-idx3-ubyte.gz");
  write_bytes(bad, gz);
  expect_error([&] { read_idx(bad); }, {bad, "corrupt gzip"});
}

// The real Fashion-MNIST files, installed by the project's setup.
constexpr const char* kFashionDir = "/usr/share/datasets/fashion-mnist/";

TEST(Idx, FashionMnistTrainLabels) {
  const IdxArray labels = read_idx(std::string(kFashionDir) + "train-labels-idx1-ubyte.gz");
  ASSERT_EQ(labels.dims, (std::vector<int64_t>{60000}));
  ASSERT_EQ(labels.data.size(), 60000u);
  std::array<int64_t, 10> per_class{};
  for (uint8_t l : labels.data) {
    ASSERT_LT(l, 10);
    ++per_class[l];
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 6000) << "class " << c;
}

TEST(Idx, FashionMnistTestImages) {
  const IdxArray images = read_idx(std::string(kFashionDir) + "t10k-images-idx3-ubyte.gz");
  ASSERT_EQ(images.dims, (std::vector<int64_t>{10000, 28, 28}));
  ASSERT_EQ(images.data.size(), 10000u * 28u * 28u);
  // Real images: not all one value.
  bool varied = false;
  for (uint8_t v : images.data) varied = varied || v != images.data[0];
  EXPECT_TRUE(varied);
}

}  // namespace
}  // namespace clbench
