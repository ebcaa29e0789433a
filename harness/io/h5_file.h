#pragma once
// What every HDF5 reader and writer of clbench shares (torch-free).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

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

// Where write_h5_atomically builds the file: in memory, then written out in one piece (results,
// features: a failing disk is reported cleanly), or in the temporary file itself (the image
// cache, too large for memory; HDF5 meets the disk's errors there).
enum class H5Storage { kMemory, kFile };

// Writes `path` atomically (write_atomically in harness/foundation/files.h: a target that is not a
// regular file, or is one of `inputs`, is refused): `fill` writes a new HDF5 file, which ends up
// under a temporary name in the same folder, flushed and renamed over `path`. Every failure is a
// clbench::Error naming `path` and the cause, and removes the temporary file.
void write_h5_atomically(const std::string& path, const std::function<void(H5::H5File&)>& fill,
                         const std::vector<std::string>& inputs = {},
                         H5Storage storage = H5Storage::kMemory);

}  // namespace clbench
