#include "harness/io/h5_file.h"

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

void write_h5_atomically(const std::string& path, const std::function<void(H5::H5File&)>& fill) {
  H5::Exception::dontPrint();
  write_atomically(path, [&](const std::string& tmp) {
    try {
      H5::H5File file(tmp, H5F_ACC_TRUNC);
      fill(file);
    } catch (const H5::Exception& e) {
      throw Error(h5_detail(e));
    }
  });
}

}  // namespace clbench
