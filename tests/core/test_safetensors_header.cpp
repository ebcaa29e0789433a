// The torch-free safetensors header validator (harness/io/safetensors_header.h) on in-memory files;
// tests/torch/test_vit.cpp covers read_safetensors on top of it.
#include "harness/io/safetensors_header.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "harness/foundation/error.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using testing::Bytes;
using testing::expect_error;

// A safetensors file: little-endian length, `header`, then `data` (`length` overrides the field).
Bytes file(const std::string& header, const std::string& data, int64_t length = -1) {
  const uint64_t n = length < 0 ? header.size() : static_cast<uint64_t>(length);
  Bytes b;
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(n >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

SafetensorsHeader parse(const Bytes& b) {
  return parse_safetensors_header(b.data(), b.size(), "m.safetensors");
}

TEST(SafetensorsHeader, ParsesTensorsInNameOrderAndMetadata) {
  const std::string header = R"({"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},)"
                             R"("__metadata__":{"format":"pt"},)"
                             R"("a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},)"
                             R"("c":{"dtype":"BOOL","shape":[0,3],"data_offsets":[16,16]}}  )";
  const auto h = parse(file(header, std::string(16, '\0')));
  EXPECT_EQ(h.data_start, 8 + header.size());
  ASSERT_EQ(h.tensors.size(), 3u);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[0].dtype, SafetensorsDtype::kBF16);
  EXPECT_EQ(h.tensors[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(h.tensors[0].begin, 0u);
  EXPECT_EQ(h.tensors[0].end, 8u);
  EXPECT_EQ(h.tensors[1].dtype, SafetensorsDtype::kI64);
  EXPECT_EQ(h.tensors[2].shape, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_STREQ(safetensors_dtype_name(SafetensorsDtype::kBF16), "BF16");
  EXPECT_EQ(safetensors_itemsize(SafetensorsDtype::kF64), 8u);
  // No tensors at all, and an empty data buffer, is a valid file.
  EXPECT_TRUE(parse(file("{}", "")).tensors.empty());
}

TEST(SafetensorsHeader, RejectsBadLengthFields) {
  expect_error([] { parse(Bytes{1, 2, 3}); }, {"m.safetensors", "too short", "3 bytes"});
  expect_error([] { parse(file("{}", "", 1 << 20)); }, {"m.safetensors", "exceeds the file"});
  const std::string big(kSafetensorsMaxHeader + 1, ' ');
  expect_error([&] { parse(file(big, "")); }, {"m.safetensors", "-byte limit"});
  // The header text must fit in the file the caller says it came from.
  expect_error([] { parse_safetensors_header("{}", 9, "x.safetensors"); },
               {"x.safetensors", "exceeds the file"});
}

TEST(SafetensorsHeader, RejectsHostileHeadersNamingFileAndTensor) {
  const std::string eight(8, '\0');
  struct Case {
    std::string header, tensor, what;
  };
  const std::vector<Case> cases = {
      {"not json", "", "not a JSON object"},
      {"[1,2]", "", "not a JSON object"},
      {R"({"w":1})", "w", "not a JSON object"},
      {R"({"w":{"dtype":"F32","shape":[2]}})", "w", "data_offsets"},
      {R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", "w", "dtype is not a string"},
      {R"({"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", "w", "'F7'"},
      {R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", "w", "shape is not an array"},
      {R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "w", "negative"},
      {R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", "w", "not an integer"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", "w", "[begin, end]"},
      {R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", "w", "end before"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", "w", "out of range"},
      {R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", "w", "needs 16"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", "w", "gap"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "", "cover 4"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       "b", "overlap"},
      {R"({"__metadata__":{"a":1}})", "", "__metadata__ 'a'"},
      {R"({"__metadata__":[]})", "", "__metadata__ is not"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> parts = {"m.safetensors", c.what};
    if (!c.tensor.empty()) parts.push_back("'" + c.tensor + "'");
    SCOPED_TRACE(c.header);
    expect_error([&] { parse(file(c.header, eight)); }, parts);
  }
}

TEST(SafetensorsHeader, AbsurdShapesAreRejectedEvenWithAZeroDimension) {
  // Regression (found by review; fuzz_safetensors_header checks it): with a zero dimension the
  // byte count is 0 whatever the other dimensions are, so [0, 2^62, 4] passed, and torch::empty
  // then threw c10::Error ("Stride calculation overflowed") out of read_safetensors instead of a
  // clbench::Error naming the file. Now the product of max(d, 1) must fit in int64.
  for (const std::string shape :
       {"[0,4611686018427387904,4]", "[4294967296,4294967296,0]", "[9223372036854775807,2,0]",
        "[4294967296,4294967296,4294967296]"}) {
    SCOPED_TRACE(shape);
    const std::string header =
        R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,0]}})";
    expect_error([&] { parse(file(header, "")); }, {"m.safetensors", "'w'", "absurd shape"});
  }
  // Large but representable zero-sized shapes are fine.
  const auto h =
      parse(file(R"({"w":{"dtype":"F32","shape":[0,4294967296],"data_offsets":[0,0]}})", ""));
  EXPECT_EQ(h.tensors.at(0).shape, (std::vector<int64_t>{0, int64_t{1} << 32}));
}

}  // namespace
}  // namespace clbench
