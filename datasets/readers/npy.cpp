#include "datasets/readers/npy.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr uint64_t kMaxHeaderBytes = 1 << 20;  // NumPy itself refuses 10,000 without a flag
constexpr int64_t kMaxBytes = int64_t{1} << 62;

struct TypeInfo {
  const char* descr;
  NpyType type;
  int64_t size;
};
constexpr TypeInfo kTypes[] = {
    {"|u1", NpyType::kUint8, 1},  {"<u1", NpyType::kUint8, 1},   {"|i1", NpyType::kInt8, 1},
    {"<i1", NpyType::kInt8, 1},   {"<i2", NpyType::kInt16, 2},   {"<u2", NpyType::kUint16, 2},
    {"<i4", NpyType::kInt32, 4},  {"<u4", NpyType::kUint32, 4},  {"<i8", NpyType::kInt64, 8},
    {"<u8", NpyType::kUint64, 8}, {"<f4", NpyType::kFloat32, 4}, {"<f8", NpyType::kFloat64, 8}};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// A recursive-descent parser of the header's dict literal.
class HeaderText {
 public:
  HeaderText(std::string text, std::string name) : t_(std::move(text)), name_(std::move(name)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": .npy header, at character " + std::to_string(i_) + ": " + what);
  }
  void skip_space() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r'))
      ++i_;
  }
  bool at_end() const { return i_ >= t_.size(); }
  bool peek(char c) {
    skip_space();
    return i_ < t_.size() && t_[i_] == c;
  }
  void expect(char c, const std::string& where) {
    if (!peek(c)) fail("expected '" + std::string(1, c) + "' " + where + ", found " + found());
    ++i_;
  }
  std::string found() const {
    if (at_end()) return "the end of the header";
    const unsigned char c = static_cast<unsigned char>(t_[i_]);
    if (c < 0x20 || c >= 0x7f) return "byte " + std::to_string(c);
    return "'" + std::string(1, t_[i_]) + "'";
  }
  // A quoted string without escapes (the keys and a dtype string).
  std::string string_literal(const std::string& what) {
    skip_space();
    if (at_end() || (t_[i_] != '\'' && t_[i_] != '"'))
      fail(what + " must be a quoted string, found " + found());
    const char quote = t_[i_++];
    std::string s;
    while (i_ < t_.size() && t_[i_] != quote) {
      const unsigned char c = static_cast<unsigned char>(t_[i_]);
      if (c == '\\' || c < 0x20 || c >= 0x7f) fail(what + ": unsupported character in a string");
      s += t_[i_++];
    }
    if (at_end()) fail(what + ": unterminated string");
    ++i_;
    return s;
  }
  bool boolean(const std::string& what) {
    skip_space();
    for (const auto& [word, value] :
         {std::make_pair("True", true), std::make_pair("False", false)}) {
      const size_t n = std::strlen(word);
      if (t_.compare(i_, n, word) == 0) {
        i_ += n;
        return value;
      }
    }
    fail(what + " must be True or False, found " + found());
  }
  // A non-negative decimal integer as Python writes one (no sign, no leading zero).
  int64_t dimension() {
    skip_space();
    const size_t start = i_;
    int64_t v = 0;
    while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') {
      if (v > (kMaxBytes - 9) / 10) fail("a dimension of 'shape' is too large");
      v = v * 10 + (t_[i_++] - '0');
    }
    if (i_ == start) {
      fail("'shape' must be a tuple of non-negative integers, found " + found());
    }
    if (i_ - start > 1 && t_[start] == '0') fail("a dimension of 'shape' has a leading zero");
    return v;
  }
  std::vector<int64_t> tuple() {
    expect('(', "to open 'shape'");
    std::vector<int64_t> dims;
    bool trailing_comma = false;
    while (!peek(')')) {
      dims.push_back(dimension());
      trailing_comma = peek(',');
      if (trailing_comma) {
        ++i_;
      } else if (!peek(')')) {
        fail("expected ',' or ')' in 'shape', found " + found());
      }
    }
    ++i_;
    if (dims.size() == 1 && !trailing_comma)
      fail("'shape' (" + std::to_string(dims[0]) + ") is not a tuple (a one-element tuple is (" +
           std::to_string(dims[0]) + ",))");
    return dims;
  }

 private:
  std::string t_, name_;
  size_t i_ = 0;
};

uint64_t little_endian(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(p[k]) << (8 * k);
  return v;
}

const TypeInfo& type_of(const std::string& descr, const std::string& name) {
  for (const auto& t : kTypes) {
    if (descr == t.descr) return t;
  }
  if (!descr.empty() && descr[0] == '>')
    throw Error(name + ": .npy dtype '" + descr + "' is big-endian; only little-endian is read");
  std::string known;
  for (const auto& t : kTypes) known += (known.empty() ? "" : ", ") + std::string(t.descr);
  throw Error(name + ": unsupported .npy dtype '" + descr + "' (supported: " + known + ")");
}

std::ifstream open_at_data(const std::string& path, const NpyHeader& h) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  in.seekg(h.data_offset);
  if (!in) throw Error(path + ": cannot seek to the data at byte " + std::to_string(h.data_offset));
  return in;
}

void read_exactly(std::ifstream& in, void* out, int64_t bytes, const std::string& path) {
  in.read(static_cast<char*>(out), static_cast<std::streamsize>(bytes));
  if (in.gcount() != bytes) throw Error(path + ": short read");
}

bool is_integer(NpyType t) {
  return t != NpyType::kFloat32 && t != NpyType::kFloat64;
}

// Element `i` of little-endian integer data as int64; false when it does not fit (a uint64
// above INT64_MAX).
bool integer_at(const uint8_t* data, int64_t i, const NpyHeader& h, int64_t* out) {
  const uint64_t raw = little_endian(data + i * h.item_size, static_cast<size_t>(h.item_size));
  const int bits = static_cast<int>(8 * h.item_size);
  switch (h.type) {
    case NpyType::kInt8:
    case NpyType::kInt16:
    case NpyType::kInt32:
    case NpyType::kInt64: {
      const uint64_t sign = uint64_t{1} << (bits - 1);
      const uint64_t extended = bits == 64 ? raw : (raw ^ sign) - sign;  // sign-extend
      *out = static_cast<int64_t>(extended);
      return true;
    }
    default:
      if (raw > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      *out = static_cast<int64_t>(raw);
      return true;
  }
}

template <typename F>
void float_pixels(const uint8_t* data, int64_t n, int64_t per_image, int64_t first_image,
                  uint8_t* out, const std::string& path) {
  for (int64_t k = 0; k < n; ++k) {
    F v;
    std::memcpy(&v, data + k * static_cast<int64_t>(sizeof(F)), sizeof(F));
    if (!(v >= F(0) && v <= F(1))) {
      std::ostringstream s;
      s.precision(9);
      s << v;
      throw Error(path + ": image " + std::to_string(first_image + k / per_image) +
                  " has the value " + s.str() + " (element " + std::to_string(k % per_image) +
                  "); a float image must be in [0, 1]");
    }
    out[k] = static_cast<uint8_t>(v * F(255));  // np.uint8(255 * img): truncated
  }
}

}  // namespace

int64_t NpyHeader::count() const {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

int64_t NpyHeader::data_bytes() const {
  return count() * item_size;
}

NpyHeader parse_npy_header(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size < kMagicBytes || std::memcmp(bytes, kMagic, kMagicBytes) != 0)
    throw Error(name + ": not a .npy file (it does not start with the magic \\x93NUMPY)");
  if (size < kMagicBytes + 2) throw Error(name + ": .npy file cut off in its version bytes");
  NpyHeader h;
  h.major = bytes[6];
  h.minor = bytes[7];
  if (h.major < 1 || h.major > 3 || h.minor != 0) {
    throw Error(name + ": unsupported .npy format version " + std::to_string(h.major) + "." +
                std::to_string(h.minor) + " (expected 1.0, 2.0 or 3.0)");
  }
  const size_t length_bytes = h.major == 1 ? 2 : 4, prefix = kMagicBytes + 2 + length_bytes;
  if (size < prefix) throw Error(name + ": .npy file cut off in its header length");
  const uint64_t header_bytes = little_endian(bytes + kMagicBytes + 2, length_bytes);
  if (header_bytes > kMaxHeaderBytes) {
    throw Error(name + ": .npy header length " + std::to_string(header_bytes) +
                " is over the 1 MiB this reader accepts");
  }
  if (header_bytes > size - prefix) {
    throw Error(name + ": .npy header of " + std::to_string(header_bytes) +
                " bytes is longer than the file (" + std::to_string(size - prefix) +
                " bytes after the length field)");
  }
  h.data_offset = static_cast<int64_t>(prefix + header_bytes);

  HeaderText t(std::string(reinterpret_cast<const char*>(bytes) + prefix, header_bytes), name);
  bool have_descr = false, have_order = false, have_shape = false;
  t.expect('{', "at the start of the header dict");
  while (!t.peek('}')) {
    const std::string key = t.string_literal("a key");
    t.expect(':', "after the key '" + key + "'");
    bool* seen = key == "descr"           ? &have_descr
                 : key == "fortran_order" ? &have_order
                 : key == "shape"         ? &have_shape
                                          : nullptr;
    if (seen == nullptr)
      t.fail("unknown key '" + key + "' (expected 'descr', 'fortran_order', 'shape')");
    if (*seen) t.fail("the key '" + key + "' appears twice");
    *seen = true;
    if (key == "descr") {
      h.descr = t.string_literal("'descr' (only simple dtypes are read, not structured ones)");
    } else if (key == "fortran_order") {
      if (t.boolean("'fortran_order'"))
        throw Error(name + ": fortran_order is True; only C-order .npy arrays are read");
    } else {
      h.shape = t.tuple();
    }
    if (t.peek(',')) {
      t.expect(',', "");
    } else if (!t.peek('}')) {
      t.fail("expected ',' or '}' after the value of '" + key + "', found " + t.found());
    }
  }
  t.expect('}', "");
  t.skip_space();
  if (!t.at_end()) t.fail("unexpected " + t.found() + " after the header dict");
  for (const auto& [seen, key] :
       {std::make_pair(have_descr, "descr"), std::make_pair(have_order, "fortran_order"),
        std::make_pair(have_shape, "shape")}) {
    if (!seen) throw Error(name + ": .npy header has no '" + key + "' key");
  }
  const TypeInfo& type = type_of(h.descr, name);
  h.type = type.type;
  h.item_size = type.size;
  int64_t bytes_total = h.item_size;
  for (const int64_t d : h.shape) {
    if (d != 0 && bytes_total > kMaxBytes / d)
      throw Error(name + ": .npy shape " + shape_text(h.shape) + " is too large");
    bytes_total *= d;
  }
  return h;
}

NpyHeader read_npy_header(const std::string& path) {
  std::string why;
  if (!is_regular_file(path, &why)) throw Error("missing data file: " + path + why);
  std::error_code ec;
  const auto file_bytes = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) throw Error("cannot read the size of " + path + ": " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  std::vector<uint8_t> head(static_cast<size_t>(
      std::min<int64_t>(file_bytes, static_cast<int64_t>(kMaxHeaderBytes) + 12)));
  read_exactly(in, head.data(), static_cast<int64_t>(head.size()), path);
  NpyHeader h = parse_npy_header(head.data(), head.size(), path);
  const int64_t expected = h.data_offset + h.data_bytes();
  if (file_bytes != expected) {
    throw Error(path + ": " + std::to_string(file_bytes - h.data_offset) +
                " bytes of data, but shape " + shape_text(h.shape) + " of '" + h.descr +
                "' needs " + std::to_string(h.data_bytes()) +
                (file_bytes < expected ? " (the file is truncated)" : " (bytes after the array)"));
  }
  return h;
}

std::vector<int64_t> read_npy_labels(const std::string& path, int64_t lo, int64_t hi) {
  const NpyHeader h = read_npy_header(path);
  if (h.shape.size() != 1)
    throw Error(path + ": labels must be a 1-D array, the shape is " + shape_text(h.shape));
  if (!is_integer(h.type))
    throw Error(path + ": labels must be integers, the dtype is '" + h.descr + "'");
  std::vector<uint8_t> data(static_cast<size_t>(h.data_bytes()));
  std::ifstream in = open_at_data(path, h);
  read_exactly(in, data.data(), h.data_bytes(), path);
  std::vector<int64_t> labels(static_cast<size_t>(h.count()));
  for (int64_t i = 0; i < h.count(); ++i) {
    int64_t v = 0;
    const bool fits = integer_at(data.data(), i, h, &v);
    if (!fits || v < lo || v > hi) {
      throw Error(path + ": label " +
                  (fits ? std::to_string(v)
                        : std::to_string(little_endian(data.data() + i * h.item_size, 8))) +
                  " at index " + std::to_string(i) + " out of range " + std::to_string(lo) + ".." +
                  std::to_string(hi));
    }
    labels[static_cast<size_t>(i)] = v;
  }
  return labels;
}

std::vector<uint8_t> read_npy_images(const std::string& path, int64_t height, int64_t width,
                                     int64_t channels, int64_t* count) {
  const NpyHeader h = read_npy_header(path);
  if (h.shape.size() != 4 || h.shape[1] != height || h.shape[2] != width ||
      h.shape[3] != channels) {
    throw Error(path + ": images must have the shape (N, " + std::to_string(height) + ", " +
                std::to_string(width) + ", " + std::to_string(channels) + "), the shape is " +
                shape_text(h.shape));
  }
  if (h.type != NpyType::kFloat32 && h.type != NpyType::kFloat64 && h.type != NpyType::kUint8) {
    throw Error(path +
                ": images must be float32 ('<f4'), float64 ('<f8') or uint8 ('|u1'), the "
                "dtype is '" +
                h.descr + "'");
  }
  const int64_t n = h.shape[0], per_image = height * width * channels;
  std::vector<uint8_t> out(static_cast<size_t>(n * per_image));
  std::ifstream in = open_at_data(path, h);
  constexpr int64_t kChunk = 256;  // images per read
  std::vector<uint8_t> buf(static_cast<size_t>(std::min(kChunk, n) * per_image * h.item_size));
  for (int64_t first = 0; first < n; first += kChunk) {
    const int64_t images = std::min(kChunk, n - first), elements = images * per_image;
    uint8_t* dst = out.data() + first * per_image;
    if (h.type == NpyType::kUint8) {
      read_exactly(in, dst, elements, path);
      continue;
    }
    read_exactly(in, buf.data(), elements * h.item_size, path);
    if (h.type == NpyType::kFloat32) {
      float_pixels<float>(buf.data(), elements, per_image, first, dst, path);
    } else {
      float_pixels<double>(buf.data(), elements, per_image, first, dst, path);
    }
  }
  *count = n;
  return out;
}

}  // namespace clbench
