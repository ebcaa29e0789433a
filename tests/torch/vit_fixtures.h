#pragma once
// What the ViT and safetensors tests share: a temporary folder, a small ViT, timm's key names,
// state comparisons and raw file writing.
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
#include "tests/core/fixtures.h"

namespace clbench::vit_testing {

namespace fs = std::filesystem;

using testing::TempDir;

// A depth-2 model on 28x28 RGB: small enough for every test.
inline VitOptions small_options() {
  return VitOptions()
      .image_size(28)
      .patch_size(4)
      .in_channels(3)
      .dim(64)
      .depth(2)
      .heads(4)
      .mlp_ratio(2.0);
}

inline std::vector<std::string> timm_keys(int64_t depth) {
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

inline std::map<std::string, torch::Tensor> state_of(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : m.named_parameters(true)) out[item.key()] = item.value().detach().clone();
  return out;
}

// The message of the clbench::Error that `f` throws ("" when it throws none).
template <typename F>
inline std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Raw bytes as int tensor, so NaN payloads and -0 compare exactly.
inline bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto n = static_cast<size_t>(a.nbytes());
  return std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), n) == 0;
}

inline void write_raw(const std::string& path, const std::string& header, const std::string& data,
                      uint64_t header_len) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((header_len >> (8 * i)) & 0xff));
  out << header << data;
}

inline void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  write_raw(path, header, data, header.size());
}

// Hooks that add what a test gives them: input tokens, and per block a key/value prefix.
struct TestHooks : VitHooks {
  torch::Tensor tokens;
  std::vector<KeyValuePrefix> prefixes;  // per block
  torch::Tensor input_tokens(int64_t) override { return tokens; }
  KeyValuePrefix prefix(size_t block, int64_t) override {
    return block < prefixes.size() ? prefixes[block] : KeyValuePrefix{};
  }
};

}  // namespace clbench::vit_testing
