// safetensors weights (harness/models/weights.h): bit-exact round trips, hostile files, name and
// shape mismatches, ignored head keys, position-embedding resampling.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include "harness/foundation/error.h"
#include "harness/models/backbones.h"
#include "harness/models/vit.h"
#include "harness/models/weights.h"
#include "support.h"
#include "tests/torch/vit_fixtures.h"

namespace clbench {
namespace {

using namespace vit_testing;
namespace fs = std::filesystem;

// --- safetensors -------------------------------------------------------------------------------

TEST(Safetensors, RoundTripIsBitExact) {
  TempDir dir;
  torch::manual_seed(4);
  auto f32 = torch::randn({3, 5});
  f32[0][0] = std::numeric_limits<float>::quiet_NaN();
  f32[0][1] = -0.0f;
  f32[0][2] = std::numeric_limits<float>::infinity();
  std::map<std::string, torch::Tensor> tensors = {
      {"f32", f32},
      {"f16", torch::randn({4, 2}).to(torch::kFloat16)},
      {"bf16", torch::randn({7}).to(torch::kBFloat16)},
      {"f64", torch::randn({2, 2}, torch::kFloat64)},
      {"i64", torch::arange(-5, 5, torch::kInt64)},
      {"u8", torch::arange(0, 256).to(torch::kUInt8)},
      {"flag", torch::tensor({true, false})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::zeros({0, 4})},
      {"strided", torch::randn({4, 6}).t()},
  };
  const std::string path = dir / "t.safetensors";
  write_safetensors(path, tensors, {{"format", "pt"}, {"note", "ünïcode"}});
  std::map<std::string, std::string> meta;
  auto back = read_safetensors(path, SafetensorsFloats::kAsStored, &meta);
  ASSERT_EQ(back.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    EXPECT_TRUE(same_bits(back.at(name), t.contiguous())) << name;
  }
  EXPECT_EQ(meta.at("note"), "ünïcode");
  EXPECT_EQ(meta.at("format"), "pt");
  EXPECT_EQ(fs::file_size(path) % 8, 0u);  // header padded: data 8-byte aligned
  // Default: half precision comes back as float32, other dtypes as stored.
  auto floats = read_safetensors(path);
  EXPECT_EQ(floats.at("f16").scalar_type(), torch::kFloat32);
  EXPECT_EQ(floats.at("bf16").scalar_type(), torch::kFloat32);
  EXPECT_EQ(floats.at("f64").scalar_type(), torch::kFloat64);
  EXPECT_EQ(floats.at("i64").scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(floats.at("f16"), tensors.at("f16").to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(floats.at("bf16"), tensors.at("bf16").to(torch::kFloat32)));
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST(Safetensors, ReadsAHandWrittenF16File) {
  TempDir dir;
  const std::string path = dir / "h.safetensors";
  // 1.0, -2.0, 65504 (largest half), 2^-24 (smallest subnormal); little-endian.
  const uint16_t bits[] = {0x3C00, 0xC000, 0x7BFF, 0x0001};
  std::string data(reinterpret_cast<const char*>(bits), sizeof bits);
  write_raw(path, R"({"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}  )", data);
  auto as_float = read_safetensors(path).at("h");
  EXPECT_EQ(as_float.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(
      as_float, torch::tensor({1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24)}).view({2, 2})));
  auto half = read_safetensors(path, SafetensorsFloats::kAsStored).at("h");
  ASSERT_EQ(half.scalar_type(), torch::kFloat16);
  EXPECT_EQ(std::memcmp(half.data_ptr(), bits, sizeof bits), 0);
  // Written back, the data bytes are the same.
  write_safetensors(dir / "h2.safetensors", {{"h", half}});
  std::ifstream in(dir / "h2.safetensors", std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(file.substr(file.size() - 8), data);
}

TEST(Safetensors, HostileFilesAreRejectedNamingFileAndTensor) {
  TempDir dir;
  const std::string ok = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  const std::string eight(8, '\0');
  struct Case {
    std::string label, header, data, tensor;
    int64_t header_len = -1;  // -1: the header's real length
  };
  const std::vector<Case> cases = {
      {"header length beyond the file", "{\"w\":{" + ok + "}}", eight, "", 1 << 20},
      {"not JSON", "this is not json", eight, ""},
      {"truncated JSON", "{\"w\":{" + ok, eight, ""},
      {"JSON array", "[1,2]", eight, ""},
      {"offsets beyond the data", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})",
       eight, "w"},
      {"end before begin", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight, "w"},
      {"overlapping tensors",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, "b"},
      {"size does not match shape", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
       eight, "w"},
      {"size does not match dtype", R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})",
       eight, "w"},
      {"unknown dtype", R"({"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", eight, "w"},
      {"negative dimension", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight,
       "w"},
      {"absurd shape",
       R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})",
       eight, "w"},
      {"fractional dimension", R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", eight,
       "w"},
      {"missing offsets", R"({"w":{"dtype":"F32","shape":[2]}})", eight, "w"},
      {"gap in the data", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight, "w"},
      {"bytes not covered", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight, ""},
      {"metadata not strings", R"({"__metadata__":{"a":1},"w":{)" + ok + "}}", eight, ""},
  };
  for (const auto& c : cases) {
    const std::string path = dir / "hostile.safetensors";
    write_raw(path, c.header, c.data,
              c.header_len < 0 ? c.header.size() : static_cast<uint64_t>(c.header_len));
    const auto message = error_of([&] { read_safetensors(path); });
    EXPECT_NE(message.find(path), std::string::npos) << c.label << ": '" << message << "'";
    if (!c.tensor.empty()) {
      EXPECT_NE(message.find("'" + c.tensor + "'"), std::string::npos)
          << c.label << ": " << message;
    }
  }
  // Too short for the length field, and no file at all.
  const std::string tiny = dir / "tiny.safetensors";
  std::ofstream(tiny) << "abc";
  EXPECT_NE(error_of([&] { read_safetensors(tiny); }).find(tiny), std::string::npos);
  const std::string none = dir / "none.safetensors";
  EXPECT_NE(error_of([&] { read_safetensors(none); }).find(none), std::string::npos);
}

TEST(Safetensors, APathTooLongToCheckIsAClearError) {
  // Regression (review): the file check threw std::filesystem::filesystem_error for a path longer
  // than PATH_MAX instead of a clbench::Error naming the file.
  std::string deep = "/tmp";
  for (int i = 0; i < 2100; ++i) deep += "/a";
  try {
    read_safetensors(deep + "/w.safetensors");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cannot open safetensors file /tmp/a/a"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(File name too long)"), std::string::npos) << msg;
  }
}

TEST(Safetensors, SavedBackboneLoadsToIdenticalOutputs) {
  TempDir dir;
  torch::manual_seed(5);
  Vit a(small_options()), b(small_options());
  const std::string path = dir / "vit.safetensors";
  save_backbone_weights(*a, path);
  auto file = read_safetensors(path);
  std::vector<std::string> keys;
  for (const auto& [k, v] : file) keys.push_back(k);
  auto expected = timm_keys(2);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(keys, expected);
  load_backbone_weights(*b, path);
  a->eval();
  b->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({3, 3, 28, 28});
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
}

TEST(Safetensors, MismatchedWeightsNameEachTensorAndBothShapes) {
  TempDir dir;
  torch::manual_seed(6);
  Vit big(small_options());
  const std::string path = dir / "big.safetensors";
  save_backbone_weights(*big, path);

  Vit narrow(small_options().dim(32).heads(4));
  const auto before = state_of(*narrow);
  auto message = error_of([&] { load_backbone_weights(*narrow, path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("blocks.0.attn.qkv.weight: file has [192, 64], model has [96, 32]"),
            std::string::npos)
      << message;

  auto state = state_of(*big);
  state.erase("norm.bias");
  write_safetensors(dir / "missing.safetensors", state);
  message = error_of([&] { load_backbone_weights(*big, dir / "missing.safetensors"); });
  EXPECT_NE(message.find("norm.bias: missing from the file (model has [64])"), std::string::npos)
      << message;

  state = state_of(*big);
  state["blocks.2.norm1.weight"] = torch::ones({64});
  write_safetensors(dir / "extra.safetensors", state);
  message = error_of([&] { load_backbone_weights(*big, dir / "extra.safetensors"); });
  EXPECT_NE(message.find("blocks.2.norm1.weight: in the file ([64]) but not in the model"),
            std::string::npos)
      << message;

  Vit deeper(small_options().depth(3));
  message = error_of([&] { load_backbone_weights(*deeper, path); });
  EXPECT_NE(message.find("blocks.2.mlp.fc2.bias: missing"), std::string::npos) << message;

  // A failed load leaves the model untouched.
  for (const auto& [k, v] : state_of(*narrow)) EXPECT_TRUE(torch::equal(v, before.at(k))) << k;
}

TEST(Safetensors, ClassificationHeadKeysAreIgnored) {
  TempDir dir;
  torch::manual_seed(7);
  Vit a(small_options()), b(small_options());
  auto state = state_of(*a);
  state["head.weight"] = torch::randn({1000, 64});
  state["head.bias"] = torch::randn({1000});
  state["fc_norm.weight"] = torch::ones({64});
  state["fc_norm.bias"] = torch::zeros({64});
  write_safetensors(dir / "timm.safetensors", state);
  load_backbone_weights(*b, dir / "timm.safetensors");
  for (const auto& [k, v] : state_of(*b)) {
    EXPECT_TRUE(torch::equal(v, state.at(k))) << k;
  }
}

TEST(Safetensors, PosEmbedIsResampledToTheModelsGrid) {
  torch::manual_seed(8);
  // 14x14 -> 7x7: the cls token is kept and a constant grid stays constant.
  auto pe = torch::full({1, 197, 16}, 0.25);
  pe.narrow(1, 0, 1).copy_(torch::randn({1, 1, 16}));
  auto small = resample_pos_embed(pe, 7);
  ASSERT_EQ(small.sizes(), (std::vector<int64_t>{1, 50, 16}));
  EXPECT_TRUE(torch::equal(small.narrow(1, 0, 1), pe.narrow(1, 0, 1)));
  EXPECT_TRUE(torch::allclose(small.narrow(1, 1, 49), torch::full({1, 49, 16}, 0.25), 0, 1e-6));
  EXPECT_TRUE(torch::equal(resample_pos_embed(pe, 14), pe));
  EXPECT_NE(error_of([] { resample_pos_embed(torch::zeros({1, 11, 4}), 3); }), "");

  // Loading a checkpoint trained on 56x56 (14x14 patches) into a 28x28 model (7x7).
  TempDir dir;
  Vit big(small_options().image_size(56)), model(small_options());
  save_backbone_weights(*big, dir / "big.safetensors");
  load_backbone_weights(*model, dir / "big.safetensors");
  EXPECT_TRUE(torch::equal(model->pos_embed, resample_pos_embed(big->pos_embed, 7)));
  EXPECT_TRUE(torch::equal(model->pos_embed.narrow(1, 0, 1), big->pos_embed.narrow(1, 0, 1)));
  EXPECT_TRUE(torch::equal(model->norm->weight, big->norm->weight));
}

}  // namespace
}  // namespace clbench
