#pragma once
// What every HDF5 reader and writer of clbench shares (torch-free).
#include <functional>
#include <string>

#include <H5Cpp.h>

namespace clbench {

// The library's message for an HDF5 failure ("HDF5 error" when it gives none).
std::string h5_detail(const H5::Exception& e);

// Writes `path` atomically: creates its folder if missing, lets `fill` write a new HDF5 file under
// a temporary name in that folder, then renames it over `path`. A reader never sees a partial file;
// every failure is a clbench::Error naming `path` and removes the temporary file.
void write_h5_atomically(const std::string& path, const std::function<void(H5::H5File&)>& fill);

}  // namespace clbench
