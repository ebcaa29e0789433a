#include "datasets/readers/h5_images.h"

#include <H5Cpp.h>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/io/h5_file.h"

namespace clbench {
namespace {

std::string shape_string(const std::vector<hsize_t>& dims) {
  if (dims.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

std::string dtype_string(const H5::DataSet& ds) {
  const H5T_class_t cls = ds.getTypeClass();
  const size_t bits = 8 * ds.getDataType().getSize();
  if (cls == H5T_FLOAT) return "float" + std::to_string(bits);
  if (cls == H5T_INTEGER) {
    const bool is_signed = ds.getIntType().getSign() != H5T_SGN_NONE;
    return (is_signed ? "int" : "uint") + std::to_string(bits);
  }
  if (cls == H5T_STRING) return "string";
  return "a non-numeric type";
}

}  // namespace

struct H5ImageReader::File {
  explicit File(const std::string& path) : file(path, H5F_ACC_RDONLY) {}
  H5::H5File file;
  H5::DataSet data;
};

H5ImageReader::H5ImageReader(const std::string& path, const std::string& name)
    : path_(path), name_(name) {
  H5::Exception::dontPrint();
  std::string why;
  if (!is_regular_file(path, &why)) throw Error(path + ": no such file" + why);
  std::vector<hsize_t> dims;
  std::string dtype;
  bool is_float = false, is_uint8 = false;
  try {
    if (!H5::H5File::isHdf5(path)) throw Error(path + ": not an HDF5 file");
    file_ = std::make_unique<File>(path);
    if (H5Lexists(file_->file.getId(), name.c_str(), H5P_DEFAULT) <= 0 ||
        H5Oexists_by_name(file_->file.getId(), name.c_str(), H5P_DEFAULT) <= 0) {
      throw Error(path + ": no dataset '" + name + "'");
    }
    file_->data = file_->file.openDataSet(name);
    H5::DataSpace space = file_->data.getSpace();
    dims.resize(static_cast<size_t>(space.getSimpleExtentNdims()));
    space.getSimpleExtentDims(dims.data());
    dtype = dtype_string(file_->data);
    is_float = file_->data.getTypeClass() == H5T_FLOAT;
    is_uint8 = dtype == "uint8";
  } catch (const H5::Exception& e) {
    throw Error(path + ": cannot read dataset '" + name + "' (" + h5_detail(e) + ")");
  }
  auto fail = [&](const std::string& why) {
    throw Error(path + ": dataset '" + name + "' has shape " + shape_string(dims) + " (" + dtype +
                "): " + why +
                "; expected float N x C x H x W or uint8 N x H x W x C images with C = 1 or 3");
  };
  if (dims.size() != 4) fail("not 4-dimensional");
  if (!is_float && !is_uint8) fail("unsupported dtype " + dtype);
  channels_last_ = is_uint8;
  const hsize_t channels = channels_last_ ? dims[3] : dims[1];
  if (channels != 1 && channels != 3) {
    fail(std::to_string(channels) + " channels in " +
         (channels_last_ ? "the last dimension (uint8 is read as N x H x W x C)"
                         : "the second dimension (float is read as N x C x H x W)"));
  }
  for (hsize_t d : dims) {
    if (d == 0) fail("an empty dimension");
  }
  count_ = static_cast<int64_t>(dims[0]);
  channels_ = static_cast<int64_t>(channels);
  height_ = static_cast<int64_t>(channels_last_ ? dims[1] : dims[2]);
  width_ = static_cast<int64_t>(channels_last_ ? dims[2] : dims[3]);
}

H5ImageReader::~H5ImageReader() = default;

std::vector<float> H5ImageReader::read(int64_t start, int64_t n) const {
  if (start < 0 || n < 0 || start + n > count_) {
    throw Error(path_ + ": images " + std::to_string(start) + ".." + std::to_string(start + n) +
                " of dataset '" + name_ + "' are out of range (it has " + std::to_string(count_) +
                ")");
  }
  const size_t pixels = static_cast<size_t>(channels_ * height_ * width_);
  std::vector<float> out(static_cast<size_t>(n) * pixels);
  if (n == 0) return out;
  hsize_t offset[4] = {static_cast<hsize_t>(start), 0, 0, 0};
  hsize_t counts[4] = {static_cast<hsize_t>(n), static_cast<hsize_t>(channels_),
                       static_cast<hsize_t>(height_), static_cast<hsize_t>(width_)};
  if (channels_last_) {
    counts[1] = static_cast<hsize_t>(height_);
    counts[2] = static_cast<hsize_t>(width_);
    counts[3] = static_cast<hsize_t>(channels_);
  }
  try {
    H5::DataSpace file_space = file_->data.getSpace();
    file_space.selectHyperslab(H5S_SELECT_SET, counts, offset);
    H5::DataSpace memory(4, counts);
    if (!channels_last_) {
      file_->data.read(out.data(), H5::PredType::NATIVE_FLOAT, memory, file_space);
      return out;
    }
    std::vector<uint8_t> hwc(out.size());
    file_->data.read(hwc.data(), H5::PredType::NATIVE_UINT8, memory, file_space);
    const size_t plane = static_cast<size_t>(height_ * width_);
    const size_t C = static_cast<size_t>(channels_);
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      for (size_t p = 0; p < plane; ++p) {
        for (size_t c = 0; c < C; ++c) {
          out[i * pixels + c * plane + p] =
              static_cast<float>(hwc[i * pixels + p * C + c]) / 255.0f;
        }
      }
    }
  } catch (const H5::Exception& e) {
    throw Error(path_ + ": cannot read dataset '" + name_ + "' (" + h5_detail(e) + ")");
  }
  return out;
}

void write_h5_matrix(const std::string& path, const std::string& name,
                     const std::vector<float>& values, int64_t rows, int64_t cols,
                     const std::map<std::string, std::string>& attributes) {
  H5::Exception::dontPrint();
  if (rows < 0 || cols < 0 || values.size() != static_cast<size_t>(rows * cols)) {
    throw Error("cannot write " + path + ": " + std::to_string(values.size()) + " values for a " +
                std::to_string(rows) + "x" + std::to_string(cols) + " matrix");
  }
  write_h5_atomically(path, [&](H5::H5File& file) {
    const hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
    H5::DataSet ds = file.createDataSet(name, H5::PredType::IEEE_F32LE, H5::DataSpace(2, dims));
    if (!values.empty()) ds.write(values.data(), H5::PredType::NATIVE_FLOAT);
    for (const auto& [key, value] : attributes) write_h5_attr(ds, key, value);
  });
}

}  // namespace clbench
