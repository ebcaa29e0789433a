#pragma once
// What every HDF5 reader and writer of clbench shares (torch-free).
#include <cstdint>
#include <functional>
#include <string>

#include <H5Cpp.h>

namespace clbench {

// The library's message for an HDF5 failure ("HDF5 error" when it gives none).
std::string h5_detail(const H5::Exception& e);

// The variable-length UTF-8 string type of every text attribute and string dataset clbench writes.
H5::StrType h5_text_type();

// A scalar attribute `name` on `obj`: text, 64-bit integer or double.
void write_h5_attr(H5::H5Object& obj, const std::string& name, const std::string& value);
void write_h5_attr(H5::H5Object& obj, const std::string& name, int64_t value);
void write_h5_attr(H5::H5Object& obj, const std::string& name, double value);

// Writes `path` atomically: creates its folder if missing, lets `fill` write a new HDF5 file under
// a temporary name in that folder, then renames it over `path`. A reader never sees a partial file;
// every failure is a clbench::Error naming `path` and removes the temporary file.
void write_h5_atomically(const std::string& path, const std::function<void(H5::H5File&)>& fill);

}  // namespace clbench
