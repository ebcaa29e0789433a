#include "harness/models/weights.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/io/safetensors_header.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this reader copies it as is");

namespace clbench {
namespace {

using nlohmann::json;

struct DtypeName {
  SafetensorsDtype dtype;
  torch::ScalarType type;
};

constexpr DtypeName kDtypes[] = {
    {SafetensorsDtype::kBool, torch::kBool},   {SafetensorsDtype::kU8, torch::kUInt8},
    {SafetensorsDtype::kI8, torch::kInt8},     {SafetensorsDtype::kI16, torch::kInt16},
    {SafetensorsDtype::kI32, torch::kInt32},   {SafetensorsDtype::kI64, torch::kInt64},
    {SafetensorsDtype::kF16, torch::kFloat16}, {SafetensorsDtype::kBF16, torch::kBFloat16},
    {SafetensorsDtype::kF32, torch::kFloat32}, {SafetensorsDtype::kF64, torch::kFloat64},
};

torch::ScalarType scalar_type(SafetensorsDtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d.type;
  }
  throw Error("safetensors dtype " + std::string(safetensors_dtype_name(dtype)) +
              " has no torch type");
}

const char* dtype_name(torch::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (d.type == type) return safetensors_dtype_name(d.dtype);
  }
  return nullptr;
}

void copy_tensors(torch::nn::Module& backbone, const std::map<std::string, torch::Tensor>& values) {
  torch::NoGradGuard no_grad;
  auto params = backbone.named_parameters(true);
  auto buffers = backbone.named_buffers(true);
  for (const auto& [name, value] : values) {
    auto* dst = params.find(name);
    if (dst == nullptr) dst = buffers.find(name);
    dst->copy_(value);
  }
}

bool is_head_key(const std::string& name) {
  for (const char* prefix : {"head.", "head_dist.", "fc_norm.", "fc."}) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

bool is_pos_embed(const std::string& name) {
  const std::string key = "pos_embed";
  return name == key ||
         (name.size() > key.size() &&
          name.compare(name.size() - key.size() - 1, std::string::npos, "." + key) == 0);
}

// Side of the square grid behind a {1, 1 + n*n, D} position embedding, or -1.
int64_t grid_side(const torch::Tensor& pos_embed) {
  if (pos_embed.dim() != 3 || pos_embed.size(0) != 1 || pos_embed.size(1) < 2) return -1;
  const int64_t n = pos_embed.size(1) - 1;
  auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return side * side == n ? side : -1;
}

}  // namespace

std::map<std::string, torch::Tensor> read_safetensors(
    const std::string& path, SafetensorsFloats floats,
    std::map<std::string, std::string>* metadata) {
  std::string why;
  if (!is_regular_file(path, &why)) throw Error("cannot open safetensors file " + path + why);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open safetensors file " + path);
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto fail = [&](const std::string& why) -> Error { return Error(path + ": " + why); };
  uint8_t len_bytes[8] = {};
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  const uint64_t header_len =
      safetensors_header_length(len_bytes, static_cast<size_t>(in.gcount()), file_size, path);
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  if (!in) throw fail("cannot read the header");
  SafetensorsHeader header = parse_safetensors_header(text, file_size, path);
  if (metadata != nullptr) *metadata = std::move(header.metadata);

  std::map<std::string, torch::Tensor> out;
  for (const auto& e : header.tensors) {
    const torch::ScalarType type = scalar_type(e.dtype);
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(type));
    const uint64_t bytes = e.end - e.begin;
    if (bytes > 0) {
      in.seekg(static_cast<std::streamoff>(header.data_start + e.begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(bytes));
      if (!in)
        throw fail("tensor '" + e.name + "': cannot read its " + std::to_string(bytes) + " bytes");
    }
    if (floats == SafetensorsFloats::kFloat32 &&
        (type == torch::kFloat16 || type == torch::kBFloat16)) {
      t = t.to(torch::kFloat32);
    }
    out.emplace(e.name, std::move(t));
  }
  return out;
}

void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") throw Error(path + ": '__metadata__' cannot name a tensor");
    if (!tensor.defined()) throw Error(path + ": tensor '" + name + "' is undefined");
    const char* dtype = dtype_name(tensor.scalar_type());
    if (dtype == nullptr) {
      throw Error(path + ": tensor '" + name + "' has dtype " +
                  std::string(c10::toString(tensor.scalar_type())) +
                  ", which safetensors cannot hold here");
    }
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const auto bytes = static_cast<uint64_t>(t.nbytes());
    header[name] = {
        {"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(t));
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    throw Error(path + ": cannot encode the header: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(text.size() >> (8 * i));

  write_atomically(path, [&](const std::string& tmp) {
    FileWriter out(tmp);
    out.write(len_bytes, 8);
    out.write(text);
    for (const auto& t : data) out.write(t.data_ptr(), t.nbytes());
    out.close();
  });
}

torch::Tensor resample_pos_embed(const torch::Tensor& pos_embed, int64_t new_grid) {
  // timm resample_abs_pos_embed(num_prefix_tokens=1, interpolation='bicubic', antialias=True).
  const int64_t old_grid = grid_side(pos_embed);
  if (old_grid < 0 || new_grid <= 0) {
    throw Error("pos_embed " + shape_string(pos_embed) +
                " is not {1, 1 + n*n, D} over a square grid");
  }
  if (old_grid == new_grid) return pos_embed;
  namespace F = torch::nn::functional;
  const int64_t dim = pos_embed.size(2);
  auto prefix = pos_embed.narrow(1, 0, 1);
  auto grid = pos_embed.narrow(1, 1, old_grid * old_grid)
                  .to(torch::kFloat32)
                  .reshape({1, old_grid, old_grid, dim})
                  .permute({0, 3, 1, 2});
  grid = F::interpolate(grid, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{new_grid, new_grid})
                                  .mode(torch::kBicubic)
                                  .align_corners(false)
                                  .antialias(true));
  grid = grid.permute({0, 2, 3, 1}).reshape({1, new_grid * new_grid, dim});
  return torch::cat({prefix, grid.to(pos_embed.scalar_type())}, 1);
}

void load_backbone_weights(torch::nn::Module& backbone, const std::string& path) {
  auto file = read_safetensors(path, SafetensorsFloats::kAsStored);
  std::vector<std::pair<std::string, torch::Tensor>> wanted;
  for (const auto& item : backbone.named_parameters(true))
    wanted.emplace_back(item.key(), item.value());
  for (const auto& item : backbone.named_buffers(true))
    wanted.emplace_back(item.key(), item.value());

  std::vector<std::string> problems;
  std::map<std::string, torch::Tensor> values;
  for (const auto& [name, target] : wanted) {
    auto it = file.find(name);
    if (it == file.end()) {
      problems.push_back(name + ": missing from the file (model has " + shape_string(target) + ")");
      continue;
    }
    torch::Tensor value = it->second;
    if (value.sizes() != target.sizes()) {
      const bool resample = is_pos_embed(name) && grid_side(value) > 0 && grid_side(target) > 0 &&
                            value.size(2) == target.size(2);
      if (!resample) {
        problems.push_back(name + ": file has " + shape_string(value) + ", model has " +
                           shape_string(target));
        continue;
      }
      value = resample_pos_embed(value, grid_side(target));
    }
    values[name] = value;
  }
  for (const auto& [name, value] : file) {
    const bool known =
        std::any_of(wanted.begin(), wanted.end(), [&](const auto& w) { return w.first == name; });
    if (!known && !is_head_key(name)) {
      problems.push_back(name + ": in the file (" + shape_string(value) + ") but not in the model");
    }
  }
  if (!problems.empty()) {
    std::string message = path + ": weights do not match the model: ";
    const size_t shown = std::min<size_t>(problems.size(), 20);
    for (size_t i = 0; i < shown; ++i) message += (i ? "; " : "") + problems[i];
    if (shown < problems.size()) {
      message += "; and " + std::to_string(problems.size() - shown) + " more";
    }
    throw Error(message);
  }
  copy_tensors(backbone, values);
}

void save_backbone_weights(const torch::nn::Module& backbone, const std::string& path,
                           const std::map<std::string, std::string>& metadata) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : backbone.named_parameters(true)) tensors[item.key()] = item.value();
  for (const auto& item : backbone.named_buffers(true)) tensors[item.key()] = item.value();
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"producer", "clbench"}};
  for (const auto& [key, value] : metadata) meta[key] = value;
  write_safetensors(path, tensors, meta);
}

std::string shape_string(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace clbench
