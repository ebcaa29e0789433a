#pragma once
// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then
// the tensors' bytes (offsets relative to the end of the header, packed without gaps). Reading
// validates everything a hostile file could get wrong (harness/io/safetensors_header.h, torch-free
// and fuzzed) before reading a tensor; each failure is a clbench::Error naming the file and, where
// there is one, the tensor.
#include <map>
#include <string>

#include <torch/types.h>

namespace torch::nn {
class Module;
}

namespace clbench {

enum class SafetensorsFloats {
  kFloat32,   // F16 and BF16 tensors are converted to float32 (exactly); F32/F64 stay as stored
  kAsStored,  // every tensor keeps its stored dtype
};

// Reads every tensor (CPU, contiguous). Supported dtypes: BOOL, U8, I8, I16, I32, I64, F16, BF16,
// F32, F64. `metadata`, when given, receives the "__metadata__" map.
std::map<std::string, torch::Tensor> read_safetensors(
    const std::string& path, SafetensorsFloats floats = SafetensorsFloats::kFloat32,
    std::map<std::string, std::string>* metadata = nullptr);

// Writes the tensors in name order (each moved to CPU, contiguous, in its own dtype), atomically:
// a temporary file in the same folder, then a rename.
void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Loads a backbone's weights by name (timm names for clbench::Vit, torchvision names for
// clbench::ResNet, BatchNorm buffers included). Every parameter and buffer of `backbone` must be in
// the file with the same shape; a missing, extra or mis-shaped tensor is an error listing each one
// (with both shapes). Classification-head keys absent from the model (timm's head.*, head_dist.*,
// fc_norm.*, torchvision's fc.*) are ignored. A "pos_embed" {1, 1 + n*n, D} over a different
// square grid is resampled as timm's resample_abs_pos_embed does (cls token kept, bicubic with
// antialias, align_corners=false). Values are converted to each parameter's dtype and device.
void load_backbone_weights(torch::nn::Module& backbone, const std::string& path);

// Writes every parameter and buffer of `backbone` under its name (timm / torchvision names).
// `metadata` is added to {"format": "pt", "producer": "clbench"}.
void save_backbone_weights(const torch::nn::Module& backbone, const std::string& path,
                           const std::map<std::string, std::string>& metadata = {});

// timm resample_abs_pos_embed for one prefix (cls) token: {1, 1 + n*n, D} -> {1, 1 + m*m, D}.
torch::Tensor resample_pos_embed(const torch::Tensor& pos_embed, int64_t new_grid);

// "[2, 3, 4]": a tensor's shape for error messages.
std::string shape_string(const torch::Tensor& t);

}  // namespace clbench
