#pragma once
// NumPy .npy files, format versions 1.0, 2.0 and 3.0 (numpy/lib/format.py; NEP 1): a strict
// header parser and readers for the arrays clbench loads (Mammoth's Seq-TinyImageNet). Torch-free.
//
// The file is the magic "\x93NUMPY", the major and minor version bytes, the header length (uint16
// little-endian in 1.0, uint32 in 2.0 and 3.0) and the header: a Python dict literal with exactly
// the keys 'descr' (a dtype string), 'fortran_order' (True / False) and 'shape' (a tuple of
// integers), padded with spaces and ended by a newline; the data follow, C order, nothing after.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace clbench {

// The element types read here: descr '|u1' ('<u1'), '|i1', '<i2', '<u2', '<i4', '<u4', '<i8',
// '<u8', '<f4', '<f8'. Big-endian, structured, bool, complex, float16 and object arrays are not.
enum class NpyType {
  kUint8,
  kInt8,
  kInt16,
  kUint16,
  kInt32,
  kUint32,
  kInt64,
  kUint64,
  kFloat32,
  kFloat64
};

struct NpyHeader {
  int major = 0, minor = 0;  // format version
  std::string descr;         // as written, e.g. "<f4"
  NpyType type = NpyType::kUint8;
  int64_t item_size = 1;       // bytes per element
  std::vector<int64_t> shape;  // () for a scalar
  int64_t data_offset = 0;     // bytes before the data: magic, version, length field, header
  int64_t count() const;       // elements: the product of shape (1 for a scalar)
  int64_t data_bytes() const;  // count() * item_size
};

// Parses the header at the start of `bytes` (`size` bytes: at least the whole header). A
// malformed header throws clbench::Error "<name>: <what is wrong>": a wrong magic, a version
// other than 1.0 / 2.0 / 3.0, a header longer than the input, anything but a dict literal of the
// three keys (a key missing, repeated or unknown), an unsupported descr, fortran_order True (only
// C order is read), a negative dimension or a size that overflows.
NpyHeader parse_npy_header(const uint8_t* bytes, size_t size, const std::string& name);

// The header of the file `path`; the file must be exactly data_offset + data_bytes long. Errors
// name the file.
NpyHeader read_npy_header(const std::string& path);

// A 1-D integer array (any of the integer types above) of labels, each in [lo, hi]; a value out
// of range throws naming the file and the index.
std::vector<int64_t> read_npy_labels(const std::string& path, int64_t lo, int64_t hi);

// Images of shape (N, height, width, channels) as uint8, same layout (HWC). Float arrays ('<f4',
// '<f8') hold values in [0, 1] and become uint8(255 * x), the product in the array's own
// precision and truncated (NumPy's np.uint8(255 * img)); a value outside [0, 1] (or NaN) throws
// naming the file, the image and the value. uint8 arrays are the pixels as they are. Other types
// or another shape throw. *count receives N.
std::vector<uint8_t> read_npy_images(const std::string& path, int64_t height, int64_t width,
                                     int64_t channels, int64_t* count);

}  // namespace clbench
