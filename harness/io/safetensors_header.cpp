#include "harness/io/safetensors_header.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

using nlohmann::json;

struct DtypeInfo {
  const char* name;
  SafetensorsDtype dtype;
  size_t itemsize;
};

constexpr DtypeInfo kDtypes[] = {
    {"BOOL", SafetensorsDtype::kBool, 1}, {"U8", SafetensorsDtype::kU8, 1},
    {"I8", SafetensorsDtype::kI8, 1},     {"I16", SafetensorsDtype::kI16, 2},
    {"I32", SafetensorsDtype::kI32, 4},   {"I64", SafetensorsDtype::kI64, 8},
    {"F16", SafetensorsDtype::kF16, 2},   {"BF16", SafetensorsDtype::kBF16, 2},
    {"F32", SafetensorsDtype::kF32, 4},   {"F64", SafetensorsDtype::kF64, 8},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo& info(SafetensorsDtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d;
  }
  throw Error("safetensors: unknown dtype code " + std::to_string(static_cast<int>(dtype)));
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string offsets_string(const SafetensorsTensorInfo& e) {
  return "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
}

// A non-negative JSON integer, or an error naming `what`.
uint64_t non_negative(const json& v, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    throw Error(what + " is negative (" + v.dump() + ")");
  }
  throw Error(what + " is not an integer (" + v.dump() + ")");
}

SafetensorsTensorInfo parse_entry(const std::string& name, const json& v, uint64_t buffer_size) {
  const std::string where = "tensor '" + name + "'";
  if (!v.is_object()) throw Error(where + ": entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!v.contains(key)) throw Error(where + ": no \"" + key + "\"");
  }
  SafetensorsTensorInfo e;
  e.name = name;
  const auto& dtype = v.at("dtype");
  if (!dtype.is_string()) throw Error(where + ": dtype is not a string");
  const DtypeInfo* d = find_dtype(dtype.get<std::string>());
  if (d == nullptr) {
    throw Error(where + ": unknown or unsupported dtype '" + dtype.get<std::string>() + "'");
  }
  e.dtype = d->dtype;
  const auto& shape = v.at("shape");
  if (!shape.is_array()) throw Error(where + ": shape is not an array");
  if (shape.size() > kSafetensorsMaxRank) {
    throw Error(where + ": shape has " + std::to_string(shape.size()) + " dimensions");
  }
  // bytes = numel * itemsize; extent = product of max(d, 1), which bounds the numel and every
  // contiguous stride, so a zero dimension cannot hide absurd ones (torch::empty would throw).
  uint64_t bytes = d->itemsize, extent = 1;
  for (const auto& dim : shape) {
    const uint64_t n = non_negative(dim, where + ": shape dimension");
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(bytes, n, &bytes) ||
        __builtin_mul_overflow(extent, std::max<uint64_t>(n, 1), &extent) ||
        extent > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error(where + ": absurd shape " + shape.dump());
    }
    e.shape.push_back(static_cast<int64_t>(n));
  }
  const auto& offsets = v.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) {
    throw Error(where + ": data_offsets is not [begin, end]");
  }
  e.begin = non_negative(offsets[0], where + ": data_offsets begin");
  e.end = non_negative(offsets[1], where + ": data_offsets end");
  const std::string range = "data_offsets " + offsets_string(e);
  if (e.begin > e.end) throw Error(where + ": " + range + " end before they begin");
  if (e.end > buffer_size) {
    throw Error(where + ": " + range + " out of range (data buffer is " +
                std::to_string(buffer_size) + " bytes)");
  }
  if (e.end - e.begin != bytes) {
    throw Error(where + ": " + range + " hold " + std::to_string(e.end - e.begin) + " bytes, but " +
                d->name + " " + shape_string(e.shape) + " needs " + std::to_string(bytes));
  }
  return e;
}

std::map<std::string, std::string> parse_metadata(const json& v) {
  if (!v.is_object()) throw Error("__metadata__ is not a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) throw Error("__metadata__ '" + key + "' is not a string");
    out[key] = value.get<std::string>();
  }
  return out;
}

}  // namespace

const char* safetensors_dtype_name(SafetensorsDtype dtype) {
  return info(dtype).name;
}

size_t safetensors_itemsize(SafetensorsDtype dtype) {
  return info(dtype).itemsize;
}

uint64_t safetensors_header_length(const uint8_t* first, size_t size, uint64_t file_size,
                                   const std::string& name) {
  if (file_size < 8 || size < 8) {
    throw Error(name + ": too short for a safetensors file (" + std::to_string(file_size) +
                " bytes)");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | first[i];
  if (header_len > file_size - 8) {
    throw Error(name + ": header length " + std::to_string(header_len) + " exceeds the file (" +
                std::to_string(file_size) + " bytes)");
  }
  if (header_len > kSafetensorsMaxHeader) {
    throw Error(name + ": header length " + std::to_string(header_len) + " exceeds the " +
                std::to_string(kSafetensorsMaxHeader) + "-byte limit");
  }
  return header_len;
}

SafetensorsHeader parse_safetensors_header(const std::string& header, uint64_t file_size,
                                           const std::string& name) {
  auto fail = [&](const std::string& why) -> Error { return Error(name + ": " + why); };
  if (file_size < 8 + static_cast<uint64_t>(header.size())) {
    throw fail("header length " + std::to_string(header.size()) + " exceeds the file (" +
               std::to_string(file_size) + " bytes)");
  }
  const json doc = json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (header.empty() || header[0] != '{' || doc.is_discarded() || !doc.is_object()) {
    throw fail("the header is not a JSON object");
  }
  SafetensorsHeader out;
  out.data_start = 8 + static_cast<uint64_t>(header.size());
  const uint64_t buffer_size = file_size - out.data_start;
  try {
    for (const auto& [key, value] : doc.items()) {
      if (key == "__metadata__") {
        out.metadata = parse_metadata(value);
        continue;
      }
      out.tensors.push_back(parse_entry(key, value, buffer_size));
    }
  } catch (const Error& e) {
    throw fail(e.what());
  }
  // The tensors must tile the data buffer exactly: no overlaps, no gaps (as the reference does).
  std::vector<const SafetensorsTensorInfo*> order;
  for (const auto& e : out.tensors) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const SafetensorsTensorInfo* previous = nullptr;
  for (const auto* e : order) {
    if (e->begin < covered) {
      throw fail("tensor '" + e->name + "': data_offsets " + offsets_string(*e) +
                 " overlap tensor '" + previous->name + "'");
    }
    if (e->begin > covered) {
      throw fail("tensor '" + e->name + "': data_offsets " + offsets_string(*e) +
                 " leave a gap at byte " + std::to_string(covered));
    }
    covered = e->end;
    previous = e;
  }
  if (covered != buffer_size) {
    throw fail("the data buffer has " + std::to_string(buffer_size) + " bytes but the tensors " +
               "cover " + std::to_string(covered));
  }
  return out;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* file, size_t size,
                                           const std::string& name) {
  const uint64_t header_len = safetensors_header_length(file, size, size, name);
  const std::string header(reinterpret_cast<const char*>(file) + 8, header_len);
  return parse_safetensors_header(header, size, name);
}

}  // namespace clbench
