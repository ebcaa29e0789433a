#include "harness/io/h5_file.h"

#include <cerrno>
#include <cstring>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"

namespace clbench {

std::string h5_detail(const H5::Exception& e) {
  const std::string detail = e.getDetailMsg();
  return detail.empty() ? std::string("HDF5 error") : detail;
}

H5::StrType h5_text_type() {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  return type;
}

void write_h5_attr(H5::H5Object& obj, const std::string& name, const std::string& value) {
  const H5::StrType type = h5_text_type();
  obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
}

void write_h5_attr(H5::H5Object& obj, const std::string& name, int64_t value) {
  obj.createAttribute(name, H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR))
      .write(H5::PredType::NATIVE_INT64, &value);
}

void write_h5_attr(H5::H5Object& obj, const std::string& name, double value) {
  obj.createAttribute(name, H5::PredType::IEEE_F64LE, H5::DataSpace(H5S_SCALAR))
      .write(H5::PredType::NATIVE_DOUBLE, &value);
}

namespace {

// HDF5's own message names only its function ("H5Dwrite failed"); the system's reason (a full
// disk) is in errno.
Error h5_error(const H5::Exception& e) {
  const int why = errno;
  return Error(h5_detail(e) + (why != 0 ? std::string(" (") + std::strerror(why) + ")" : ""));
}

// The file built in memory (the core driver, no backing store), as bytes: HDF5 itself never writes
// to disk, so a failing disk is met by FileWriter, which reports it, not by HDF5's close.
std::string h5_image(const std::function<void(H5::H5File&)>& fill) {
  H5::FileAccPropList access;
  access.setCore(1 << 20, false);
  H5::H5File file("clbench-in-memory.h5", H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, access);
  fill(file);
  file.flush(H5F_SCOPE_GLOBAL);
  const ssize_t size = H5Fget_file_image(file.getId(), nullptr, 0);
  if (size < 0) throw Error("cannot take the HDF5 file image");
  std::string bytes(static_cast<size_t>(size), '\0');
  if (H5Fget_file_image(file.getId(), bytes.data(), bytes.size()) != size) {
    throw Error("cannot take the HDF5 file image");
  }
  file.close();
  return bytes;
}

}  // namespace

void write_h5_atomically(const std::string& path, const std::function<void(H5::H5File&)>& fill,
                         const std::vector<std::string>& inputs, H5Storage storage) {
  H5::Exception::dontPrint();
  if (storage == H5Storage::kMemory) {
    std::string bytes;
    try {
      bytes = h5_image(fill);
    } catch (const H5::Exception& e) {
      throw Error("cannot write " + path + ": " + h5_detail(e));
    }
    write_bytes_atomically(path, bytes, inputs);
    return;
  }
  write_atomically(
      path,
      [&](const std::string& tmp) {
        errno = 0;
        try {
          H5::H5File file(tmp, H5F_ACC_TRUNC);
          fill(file);
          file.close();  // in here: the destructor would ignore a failed flush
        } catch (const H5::Exception& e) {
          throw h5_error(e);
        }
      },
      inputs);
}

}  // namespace clbench
