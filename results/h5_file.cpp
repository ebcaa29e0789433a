#include "results/h5_file.h"

#include <unistd.h>

#include <filesystem>

#include "harness/error.h"

namespace clbench {

namespace fs = std::filesystem;

std::string h5_detail(const H5::Exception& e) {
  const std::string detail = e.getDetailMsg();
  return detail.empty() ? std::string("HDF5 error") : detail;
}

void write_h5_atomically(const std::string& path, const std::function<void(H5::H5File&)>& fill) {
  H5::Exception::dontPrint();
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      throw Error("cannot write " + path + ": cannot create folder " +
                  target.parent_path().string() + " (" + ec.message() + ")");
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    H5::H5File file(tmp, H5F_ACC_TRUNC);
    fill(file);
  } catch (const H5::Exception& e) {
    fs::remove(tmp, ec);
    throw Error("cannot write " + path + ": " + h5_detail(e));
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error("cannot write " + path + ": " + ec.message());
  }
}

}  // namespace clbench
