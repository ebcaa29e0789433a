// The ViT backbone (timm layout, Dosovitskiy et al. 2021) and safetensors weights: shapes, names,
// attention, resizing, the file format's round trip and its validation, and loading by name.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "harness/foundation/error.h"
#include "harness/models/backbones.h"
#include "harness/models/vit.h"
#include "harness/models/weights.h"
#include "support.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("clbench-vit-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& p) const { return (path_ / p).string(); }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

// A depth-2 model on 28x28 RGB: small enough for every test.
VitOptions small_options() {
  return VitOptions()
      .image_size(28)
      .patch_size(4)
      .in_channels(3)
      .dim(64)
      .depth(2)
      .heads(4)
      .mlp_ratio(2.0);
}

std::vector<std::string> timm_keys(int64_t depth) {
  std::vector<std::string> keys = {"cls_token", "pos_embed", "patch_embed.proj.weight",
                                   "patch_embed.proj.bias"};
  for (int64_t i = 0; i < depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    for (const char* k : {"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
                          "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                          "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"}) {
      keys.push_back(b + k);
    }
  }
  keys.push_back("norm.weight");
  keys.push_back("norm.bias");
  return keys;
}

std::map<std::string, torch::Tensor> state_of(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : m.named_parameters(true)) out[item.key()] = item.value().detach().clone();
  return out;
}

// The message of the clbench::Error that `f` throws ("" when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Raw bytes as int tensor, so NaN payloads and -0 compare exactly.
bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto n = static_cast<size_t>(a.nbytes());
  return std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), n) == 0;
}

void write_raw(const std::string& path, const std::string& header, const std::string& data,
               uint64_t header_len) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((header_len >> (8 * i)) & 0xff));
  out << header << data;
}

void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  write_raw(path, header, data, header.size());
}

// --- ViT ----------------------------------------------------------------------------------------

TEST(Vit, B16HasTimmParameterCountAndGives768Features) {
  torch::manual_seed(0);
  std::shared_ptr<BackboneImpl> vit;
  for (const auto& b : backbones()) {
    if (b.name == "vit-b16") vit = b.make({3, 224, 224});
  }
  ASSERT_NE(vit, nullptr);
  // timm vit_base_patch16_224 with num_classes=0.
  EXPECT_EQ(count_parameters(vit->parameters()), 85'798'656);
  EXPECT_EQ(vit->feature_dim(), 768);
  torch::NoGradGuard no_grad;
  vit->eval();
  auto features = vit->forward(torch::rand({2, 3, 224, 224}));
  EXPECT_EQ(features.sizes(), (std::vector<int64_t>{2, 768}));
  EXPECT_TRUE(torch::isfinite(features).all().item<bool>());
}

TEST(Vit, SmallPresetsTrainOn28x28GreyImages) {
  torch::manual_seed(0);
  for (const auto& [name, dim] :
       std::vector<std::pair<std::string, int64_t>>{{"vit-tiny28", 64}, {"vit-small28", 128}}) {
    auto model = make_classifier(name, {1, 28, 28}, 10);
    auto logits = model->forward(torch::rand({4, 1, 28, 28}));
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{4, 10})) << name;
    EXPECT_EQ(model->backbone->feature_dim(), dim) << name;
    logits.sum().backward();
    for (const auto& p : model->named_parameters()) {
      EXPECT_TRUE(p.value().grad().defined()) << name << " " << p.key();
    }
  }
}

TEST(Vit, ParameterNamesAreTimmStateDictKeys) {
  Vit vit(small_options());
  std::vector<std::string> names;
  for (const auto& item : vit->named_parameters(true)) names.push_back(item.key());
  EXPECT_EQ(names, timm_keys(2));  // same keys, in timm's state_dict order
  EXPECT_TRUE(vit->named_buffers(true).is_empty());
  auto params = vit->named_parameters(true);
  EXPECT_EQ(params["pos_embed"].sizes(), (std::vector<int64_t>{1, 50, 64}));
  EXPECT_EQ(params["cls_token"].sizes(), (std::vector<int64_t>{1, 1, 64}));
  EXPECT_EQ(params["patch_embed.proj.weight"].sizes(), (std::vector<int64_t>{64, 3, 4, 4}));
  EXPECT_EQ(params["blocks.1.attn.qkv.weight"].sizes(), (std::vector<int64_t>{192, 64}));
  EXPECT_EQ(params["blocks.1.mlp.fc1.weight"].sizes(), (std::vector<int64_t>{128, 64}));
}

TEST(Vit, FusedAttentionEqualsExplicitSoftmaxAttention) {
  torch::manual_seed(1);
  VitAttention attn(32, 4, true);
  {
    torch::NoGradGuard g;
    attn->qkv->bias.normal_(0, 0.5);
    attn->proj->bias.normal_(0, 0.5);
  }
  auto x = torch::randn({3, 10, 32});
  auto fused = attn->forward(x);
  // softmax(q k^T / sqrt(d)) v per head, from the same weights.
  auto qkv = torch::nn::functional::linear(x, attn->qkv->weight, attn->qkv->bias);
  auto heads = [&](int64_t part) {
    return qkv.narrow(2, part * 32, 32).reshape({3, 10, 4, 8}).permute({0, 2, 1, 3});
  };
  auto q = heads(0), k = heads(1), v = heads(2);
  auto weights = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1);
  auto out = torch::matmul(weights, v).permute({0, 2, 1, 3}).reshape({3, 10, 32});
  auto expected = attn->proj->forward(out);
  EXPECT_TRUE(torch::allclose(fused, expected, 1e-5, 1e-5))
      << (fused - expected).abs().max().item<double>();
}

TEST(Vit, ResizesImagesAndAdaptsChannels) {
  torch::manual_seed(2);
  Vit grey(vit_preset("vit-tiny28"));
  grey->eval();
  torch::NoGradGuard no_grad;
  auto rgb = torch::rand({2, 3, 32, 32});
  EXPECT_EQ(grey->prepare(rgb).sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_EQ(grey->forward(rgb).sizes(), (std::vector<int64_t>{2, 64}));
  auto x = torch::rand({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(grey->prepare(x), x));  // right size: untouched

  Vit color(small_options());
  color->eval();
  auto g = torch::rand({2, 1, 20, 20});
  EXPECT_EQ(color->prepare(g).sizes(), (std::vector<int64_t>{2, 3, 28, 28}));
  EXPECT_TRUE(torch::equal(color->forward(g), color->forward(g.repeat({1, 3, 1, 1}))));
  EXPECT_NE(error_of([&] { color->forward(torch::rand({2, 2, 28, 28})); }), "");
  EXPECT_NE(error_of([&] { Vit(VitOptions().image_size(30).patch_size(4)); }).find("patch_size"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Vit(VitOptions().dim(100).heads(3)); }).find("heads"),
            std::string::npos);
}

// Adds `delta` to the q rows of the fused qkv output (what a LoRA on q does).
struct AddToQ : QkvAdapter {
  explicit AddToQ(double d) : delta(d) {}
  torch::Tensor adapt(const torch::Tensor&, const torch::Tensor& qkv) override {
    const int64_t d = qkv.size(-1) / 3;
    return torch::cat({qkv.narrow(-1, 0, d) + delta, qkv.narrow(-1, d, 2 * d)}, -1);
  }
  double delta;
};

TEST(Vit, QkvAdapterHookAndSliceViews) {
  torch::manual_seed(3);
  Vit vit(small_options());
  vit->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({2, 3, 28, 28});
  auto plain = vit->forward(x);
  auto& attn = *vit->block(0).attn;
  attn.adapter = std::make_shared<AddToQ>(0.0);
  EXPECT_TRUE(torch::equal(vit->forward(x), plain));
  attn.adapter = std::make_shared<AddToQ>(0.5);
  EXPECT_FALSE(torch::allclose(vit->forward(x), plain));
  attn.adapter.reset();
  EXPECT_TRUE(torch::equal(vit->forward(x), plain));
  // The q/k/v views share memory with the fused weight, laid out [q | k | v].
  auto v = attn.qkv_weight(QkvPart::kV);
  EXPECT_EQ(v.sizes(), (std::vector<int64_t>{64, 64}));
  EXPECT_TRUE(torch::equal(v, attn.qkv->weight.narrow(0, 128, 64)));
  EXPECT_EQ(v.data_ptr(), attn.qkv->weight[128].data_ptr());
  EXPECT_EQ(attn.qkv_bias(QkvPart::kK).data_ptr(), attn.qkv->bias[64].data_ptr());
  EXPECT_EQ(vit->depth(), 2u);
}

TEST(Vit, RegistryListsThePresets) {
  auto names = backbone_names();
  for (const char* n :
       {"mlp", "cnn", "vit-b16", "vit-s16", "vit-ti16", "vit-tiny28", "vit-small28"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  EXPECT_EQ(vit_preset("vit-s16").dim(), 384);
  EXPECT_EQ(vit_preset("vit-ti16").heads(), 3);
  EXPECT_EQ(vit_preset("vit-small28").depth(), 6);
  EXPECT_NE(error_of([] { vit_preset("vit-huge"); }).find("vit-b16"), std::string::npos);
}

// Runs bench/vit_crosscheck.py (a timm-equivalent ViT in plain PyTorch) when a Python with torch
// is at hand, and compares features, resizing and pos_embed resampling with it.
TEST(Vit, MatchesPytorchReference) {
  std::string python = std::getenv("CLBENCH_PYTHON") ? std::getenv("CLBENCH_PYTHON") : "";
  if (python.empty()) {
    const std::string venv = std::string(CLBENCH_SOURCE_DIR) + "/.venv/bin/python";
    python = fs::exists(venv) ? venv : "python3";
  }
  TempDir dir;
  const std::string script = std::string(CLBENCH_SOURCE_DIR) + "/bench/vit_crosscheck.py";
  std::string output;
  const int status = testing::run_command(python + " " + script + " --out " + dir / "", output);
  if (status == 127 || output.find("No module named 'torch'") != std::string::npos) {
    GTEST_SKIP() << "no Python with torch (" << python << "); set CLBENCH_PYTHON";
  }
  ASSERT_EQ(status, 0) << output;
  std::map<std::string, std::string> meta;
  auto ref = read_safetensors(dir / "reference.safetensors", SafetensorsFloats::kFloat32, &meta);
  auto opts = VitOptions()
                  .image_size(std::stoll(meta.at("image_size")))
                  .patch_size(std::stoll(meta.at("patch_size")))
                  .in_channels(std::stoll(meta.at("in_channels")))
                  .dim(std::stoll(meta.at("dim")))
                  .depth(std::stoll(meta.at("depth")))
                  .heads(std::stoll(meta.at("heads")))
                  .mlp_ratio(std::stod(meta.at("mlp_ratio")));
  Vit vit(opts);
  load_backbone_weights(*vit, dir / "weights.safetensors");
  vit->eval();
  torch::NoGradGuard no_grad;
  for (const char* input : {"images", "small", "large"}) {
    auto got = vit->forward(ref.at(input));
    auto want =
        ref.at(input == std::string("images") ? "features" : input + std::string("_features"));
    EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-5))
        << input << ": " << (got - want).abs().max().item<double>();
  }
  for (int64_t g : {4, 10}) {
    auto got = resample_pos_embed(vit->pos_embed, g);
    auto want = ref.at("pos_embed_" + std::to_string(g));
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6))
        << g << ": " << (got - want).abs().max().item<double>();
  }
}

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
