#include "datasets/images/image_cache.h"

#include <H5Cpp.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "datasets/images/transforms.h"
#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/foundation/hash.h"
#include "harness/io/h5_file.h"

namespace clbench {
namespace {

constexpr hsize_t kChunkBytes = 1 << 20;
constexpr int64_t kBlock = 256;  // images decoded together before they are appended

void write_strings(H5::Group& g, const std::string& name, const std::vector<std::string>& v) {
  std::vector<const char*> ptrs;
  for (const auto& s : v) ptrs.push_back(s.c_str());
  const hsize_t n = v.size();
  auto ds = g.createDataSet(name, h5_text_type(), H5::DataSpace(1, &n));
  if (n) ds.write(ptrs.data(), h5_text_type());
}

template <class T>
void write_vector(H5::Group& g, const std::string& name, const std::vector<T>& v,
                  const H5::PredType& file_type, const H5::PredType& memory_type) {
  const hsize_t n = v.size();
  auto ds = g.createDataSet(name, file_type, H5::DataSpace(1, &n));
  if (n) ds.write(v.data(), memory_type);
}

// Decodes a split block by block and appends it to /<split>; returns the split's samples' hashes.
std::vector<uint64_t> write_split(H5::H5File& file, const std::string& split,
                                  const ImageSource& source, int64_t store_size, int threads,
                                  const std::function<void(int64_t)>& done) {
  H5::Group g = file.createGroup("/" + split);
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = kChunkBytes;
  H5::DSetCreatPropList props;
  props.setChunk(1, &chunk);
  H5::DataSet pixels =
      g.createDataSet("pixels", H5::PredType::STD_U8LE, H5::DataSpace(1, &zero, &unlimited), props);
  const int64_t n = source.size();
  std::vector<int64_t> offsets, labels(static_cast<size_t>(n));
  std::vector<int32_t> heights, widths;
  std::vector<std::string> names(static_cast<size_t>(n));
  std::vector<uint64_t> hashes(static_cast<size_t>(n));
  int64_t total = 0;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t count = std::min(kBlock, n - begin);
    std::vector<DecodedImage> block(static_cast<size_t>(count));
    parallel_for(count, threads, [&](int64_t k) {
      uint64_t h = 0;
      block[k] = resize_shorter_side(source.read(begin + k, &h), store_size);
      const std::string& name = names[begin + k] = source.name(begin + k);
      const int64_t label = labels[begin + k] = source.label(begin + k);
      h = fnv1a(name.data(), name.size(), h);
      hashes[begin + k] = fnv1a(&label, sizeof label, h);
    });
    for (int64_t k = 0; k < count; ++k) {
      const auto& img = block[k];
      if (img.height > 65535 || img.width > 65535) {
        throw Error(names[begin + k] + ": image of " + std::to_string(img.height) + "x" +
                    std::to_string(img.width) + " is larger than the cache holds (65535 a side)");
      }
      const hsize_t bytes = img.pixels.size(), start = static_cast<hsize_t>(total);
      const hsize_t extent = start + bytes;
      pixels.extend(&extent);
      H5::DataSpace file_space = pixels.getSpace();
      file_space.selectHyperslab(H5S_SELECT_SET, &bytes, &start);
      pixels.write(img.pixels.data(), H5::PredType::NATIVE_UINT8, H5::DataSpace(1, &bytes),
                   file_space);
      offsets.push_back(total);
      heights.push_back(static_cast<int32_t>(img.height));
      widths.push_back(static_cast<int32_t>(img.width));
      total += static_cast<int64_t>(bytes);
    }
    if (done) done(count);
  }
  write_vector(g, "offsets", offsets, H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64);
  write_vector(g, "heights", heights, H5::PredType::STD_I32LE, H5::PredType::NATIVE_INT32);
  write_vector(g, "widths", widths, H5::PredType::STD_I32LE, H5::PredType::NATIVE_INT32);
  write_vector(g, "labels", labels, H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64);
  write_strings(g, "files", names);
  return hashes;
}

}  // namespace

void validate_cache_split(const std::string& file, const std::string& split,
                          const CacheSplitIndex& index, int64_t num_classes) {
  const std::string where = file + ": /" + split + ": ";
  const size_t n = index.offsets.size();
  if (index.heights.size() != n || index.widths.size() != n || index.labels.size() != n ||
      index.files != static_cast<int64_t>(n)) {
    throw Error(where + "offsets, heights, widths, labels and files differ in length (" +
                std::to_string(n) + ", " + std::to_string(index.heights.size()) + ", " +
                std::to_string(index.widths.size()) + ", " + std::to_string(index.labels.size()) +
                ", " + std::to_string(index.files) + ")");
  }
  if (index.pixel_bytes < 0) {
    throw Error(where + "pixels dataset of " + std::to_string(index.pixel_bytes) + " bytes");
  }
  int64_t expected = 0;
  for (size_t i = 0; i < n; ++i) {
    const std::string item = where + "image " + std::to_string(i) + ": ";
    if (index.heights[i] < 1 || index.widths[i] < 1 || index.heights[i] > 65535 ||
        index.widths[i] > 65535) {
      throw Error(item + "bad size " + std::to_string(index.heights[i]) + "x" +
                  std::to_string(index.widths[i]));
    }
    if (index.offsets[i] != expected) {
      throw Error(item + "offset " + std::to_string(index.offsets[i]) + ", expected " +
                  std::to_string(expected) + " (images are stored back to back)");
    }
    if (index.labels[i] < 0 || index.labels[i] >= num_classes) {
      throw Error(item + "label " + std::to_string(index.labels[i]) + " outside 0.." +
                  std::to_string(num_classes - 1));
    }
    const int64_t bytes = int64_t{index.heights[i]} * index.widths[i] * 3;  // < 2^34
    if (bytes > index.pixel_bytes - expected) {  // expected <= pixel_bytes: no overflow
      throw Error(item + "ends at byte " + std::to_string(expected) + " + " +
                  std::to_string(bytes) + ", past the " + std::to_string(index.pixel_bytes) +
                  " bytes of the pixels dataset");
    }
    expected += bytes;
  }
  if (expected != index.pixel_bytes) {
    throw Error(where + "the images need " + std::to_string(expected) +
                " pixel bytes but the pixels dataset holds " + std::to_string(index.pixel_bytes));
  }
}

std::string write_image_cache(const std::string& path, const CacheContents& contents,
                              const ImageSource& train, const ImageSource& test, int threads,
                              const std::function<void(int64_t, int64_t)>& progress) {
  if (contents.num_classes <= 0 ||
      contents.class_names.size() != static_cast<size_t>(contents.num_classes)) {
    throw Error("cannot write " + path + ": " + std::to_string(contents.class_names.size()) +
                " class names for " + std::to_string(contents.num_classes) + " classes");
  }
  const int64_t total = train.size() + test.size();
  int64_t done = 0;
  auto step = [&](int64_t k) {
    done += k;
    if (progress) progress(done, total);
  };
  uint64_t hash = 0;
  write_h5_atomically(
      path,
      [&](H5::H5File& file) {
        uint64_t h = fnv1a(contents.dataset.data(), contents.dataset.size());
        for (const auto& [name, split] :
             {std::pair<const char*, const ImageSource*>{"train", &train}, {"test", &test}}) {
          const auto hashes = write_split(file, name, *split, contents.store_size, threads, step);
          h = fnv1a(hashes.data(), hashes.size() * sizeof(uint64_t), h);
        }
        hash = h;
        H5::Group root = file.openGroup("/");
        write_strings(root, "class_names", contents.class_names);
        write_h5_attr(root, "format", kImageCacheFormat);
        write_h5_attr(root, "version", kImageCacheVersion);
        write_h5_attr(root, "dataset", contents.dataset);
        write_h5_attr(root, "store_size", contents.store_size);
        write_h5_attr(root, "num_classes", contents.num_classes);
        write_h5_attr(root, "content_hash", hex64(hash));
        write_h5_attr(root, "clbench_version", CLBENCH_VERSION);
      },
      {}, H5Storage::kFile);
  return hex64(hash);
}

// --- reading -----------------------------------------------------------------------------------

// The HDF5 file for the index, and a plain descriptor for the pixels: each image is read with
// pread at its chunks' file addresses, so loader threads read in parallel (HDF5 itself serialises
// every call; behind a lock, 2 loader threads were 1.1-1.3x one).
struct CacheFileHandle {
  explicit CacheFileHandle(const std::string& p)
      : h5(p, H5F_ACC_RDONLY), fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd < 0) throw Error(p + ": cannot open: " + std::strerror(errno));
  }
  ~CacheFileHandle() { ::close(fd); }
  CacheFileHandle(const CacheFileHandle&) = delete;
  CacheFileHandle& operator=(const CacheFileHandle&) = delete;
  H5::H5File h5;
  int fd;
};

namespace {

class CachedImages : public ImageSource {
 public:
  CachedImages(std::shared_ptr<CacheFileHandle> file, std::string path, std::string split,
               int64_t num_classes);
  int64_t size() const override { return static_cast<int64_t>(index_.offsets.size()); }
  int64_t label(int64_t i) const override { return index_.labels.at(static_cast<size_t>(i)); }
  std::string name(int64_t i) const override { return files_.at(static_cast<size_t>(i)); }
  DecodedImage read(int64_t i, uint64_t* input_hash) const override;

 private:
  // File addresses of the pixel chunks (kChunkBytes-sized except as written by another tool):
  // chunk k holds pixel bytes [k * chunk_bytes_, (k + 1) * chunk_bytes_).
  void locate_chunks(const H5::DataSet& pixels, int64_t pixel_bytes);

  std::shared_ptr<CacheFileHandle> file_;
  std::string path_, split_;
  int64_t chunk_bytes_ = 0;
  std::vector<int64_t> chunk_addresses_;
  CacheSplitIndex index_;
  std::vector<std::string> files_;
};

template <class T>
std::vector<T> read_vector(const H5::Group& g, const std::string& name,
                           const H5::PredType& memory_type) {
  H5::DataSet ds = g.openDataSet(name);
  H5::DataSpace space = ds.getSpace();
  if (space.getSimpleExtentNdims() != 1) throw H5::DataSetIException("", name + " is not 1-d");
  hsize_t n = 0;
  space.getSimpleExtentDims(&n);
  std::vector<T> v(n);
  if (n) ds.read(v.data(), memory_type);
  return v;
}

std::vector<std::string> read_strings(const H5::Group& g, const std::string& name) {
  H5::DataSet ds = g.openDataSet(name);
  if (ds.getTypeClass() != H5T_STRING || !ds.getStrType().isVariableStr())
    throw H5::DataSetIException("", name + " is not a list of strings");
  H5::DataSpace space = ds.getSpace();
  if (space.getSimpleExtentNdims() != 1) throw H5::DataSetIException("", name + " is not 1-d");
  hsize_t n = 0;
  space.getSimpleExtentDims(&n);
  std::vector<char*> ptrs(n, nullptr);
  const auto t = h5_text_type();
  if (n) ds.read(ptrs.data(), t);
  std::vector<std::string> v;
  for (char* p : ptrs) v.emplace_back(p ? p : "");
  if (n) H5Dvlen_reclaim(t.getId(), space.getId(), H5P_DEFAULT, ptrs.data());
  return v;
}

std::string read_text_attr(const H5::H5Object& obj, const std::string& name) {
  H5::Attribute a = obj.openAttribute(name);
  if (a.getTypeClass() != H5T_STRING) throw H5::AttributeIException("", name + " is not text");
  std::string v;
  a.read(a.getStrType(), v);
  return v;
}

int64_t read_int_attr(const H5::H5Object& obj, const std::string& name) {
  H5::Attribute a = obj.openAttribute(name);
  if (a.getTypeClass() != H5T_INTEGER)
    throw H5::AttributeIException("", name + " is not an integer");
  int64_t v = 0;
  a.read(H5::PredType::NATIVE_INT64, &v);
  return v;
}

CachedImages::CachedImages(std::shared_ptr<CacheFileHandle> file, std::string path,
                           std::string split, int64_t num_classes)
    : file_(std::move(file)), path_(std::move(path)), split_(std::move(split)) {
  H5::Group g = file_->h5.openGroup("/" + split_);
  const H5::DataSet pixels = g.openDataSet("pixels");
  H5::DataSpace space = pixels.getSpace();
  hsize_t bytes = 0;
  if (space.getSimpleExtentNdims() != 1 || pixels.getTypeClass() != H5T_INTEGER ||
      pixels.getDataType().getSize() != 1)
    throw H5::DataSetIException("", "pixels is not a 1-d uint8 dataset");
  space.getSimpleExtentDims(&bytes);
  locate_chunks(pixels, static_cast<int64_t>(bytes));
  index_.pixel_bytes = static_cast<int64_t>(bytes);
  index_.offsets = read_vector<int64_t>(g, "offsets", H5::PredType::NATIVE_INT64);
  index_.heights = read_vector<int32_t>(g, "heights", H5::PredType::NATIVE_INT32);
  index_.widths = read_vector<int32_t>(g, "widths", H5::PredType::NATIVE_INT32);
  index_.labels = read_vector<int64_t>(g, "labels", H5::PredType::NATIVE_INT64);
  files_ = read_strings(g, "files");
  index_.files = static_cast<int64_t>(files_.size());
  validate_cache_split(path_, split_, index_, num_classes);
}

void CachedImages::locate_chunks(const H5::DataSet& pixels, int64_t pixel_bytes) {
  const std::string where = "/" + split_ + "/pixels: ";
  const H5::DSetCreatPropList props = pixels.getCreatePlist();
  if (props.getLayout() != H5D_CHUNKED || props.getNfilters() != 0) {
    throw H5::DataSetIException("", where +
                                        "must be stored in uncompressed chunks, as clbench "
                                        "prepare writes them (was the file repacked?)");
  }
  hsize_t chunk = 0;
  props.getChunk(1, &chunk);
  chunk_bytes_ = static_cast<int64_t>(chunk);
  if (chunk_bytes_ <= 0) throw H5::DataSetIException("", where + "empty chunk size");
  const int64_t chunks = (pixel_bytes + chunk_bytes_ - 1) / chunk_bytes_;
  std::error_code ec;
  const auto file_bytes = static_cast<int64_t>(std::filesystem::file_size(path_, ec));
  chunk_addresses_.assign(static_cast<size_t>(chunks), -1);
  hsize_t stored = 0;
  H5::DataSpace all = pixels.getSpace();
  if (H5Dget_num_chunks(pixels.getId(), all.getId(), &stored) < 0)
    throw H5::DataSetIException("", where + "cannot count the chunks");
  for (hsize_t k = 0; k < stored; ++k) {
    hsize_t coord = 0, size = 0;
    haddr_t address = 0;
    unsigned filters = 0;
    if (H5Dget_chunk_info(pixels.getId(), all.getId(), k, &coord, &filters, &address, &size) < 0)
      throw H5::DataSetIException("", where + "cannot locate chunk " + std::to_string(k));
    const int64_t index = static_cast<int64_t>(coord) / chunk_bytes_;
    if (index < 0 || index >= chunks || static_cast<int64_t>(size) != chunk_bytes_ ||
        filters != 0 || static_cast<int64_t>(address) > file_bytes - chunk_bytes_)
      throw H5::DataSetIException("", where + "chunk " + std::to_string(k) + " (at byte " +
                                          std::to_string(coord) +
                                          ") is not a plain chunk "
                                          "inside the file");
    chunk_addresses_[static_cast<size_t>(index)] = static_cast<int64_t>(address);
  }
  for (int64_t k = 0; k < chunks; ++k) {
    if (chunk_addresses_[static_cast<size_t>(k)] < 0)
      throw H5::DataSetIException(
          "", where + "bytes from " + std::to_string(k * chunk_bytes_) + " were never written");
  }
}

DecodedImage CachedImages::read(int64_t i, uint64_t* input_hash) const {
  if (i < 0 || i >= size()) {
    throw Error(path_ + ": /" + split_ + ": image " + std::to_string(i) + " out of range");
  }
  DecodedImage img;
  img.height = index_.heights[i];
  img.width = index_.widths[i];
  img.pixels.resize(static_cast<size_t>(img.height * img.width * 3));
  // validate_cache_split checked that every image's bytes lie inside the pixels dataset.
  int64_t at = index_.offsets[i];
  uint8_t* dst = img.pixels.data();
  for (int64_t left = static_cast<int64_t>(img.pixels.size()); left > 0;) {
    const int64_t k = at / chunk_bytes_, within = at - k * chunk_bytes_;
    const int64_t n = std::min(left, chunk_bytes_ - within);
    const ssize_t got = ::pread(file_->fd, dst, static_cast<size_t>(n),
                                chunk_addresses_[static_cast<size_t>(k)] + within);
    if (got <= 0) {
      throw Error(path_ + ": /" + split_ + ": cannot read image " + std::to_string(i) + " (" +
                  (got < 0 ? std::strerror(errno) : "file ends early") + ")");
    }
    at += got;
    dst += got;
    left -= got;
  }
  if (input_hash) *input_hash = fnv1a(img.pixels.data(), img.pixels.size());
  return img;
}

}  // namespace

ImageCache::ImageCache(const std::string& path) : path_(path) {
  H5::Exception::dontPrint();
  std::string why;
  if (!is_regular_file(path, &why)) throw Error(path + ": no such cache file" + why);
  try {
    if (!H5::H5File::isHdf5(path)) throw Error(path + ": not an HDF5 file");
    file_ = std::make_shared<CacheFileHandle>(path);
    H5::Group root = file_->h5.openGroup("/");
    const auto format =
        root.attrExists("format") ? read_text_attr(root, "format") : std::string("(none)");
    if (format != kImageCacheFormat) {
      throw Error(path + ": not a clbench image cache (format attribute '" + format +
                  "'); make one with clbench prepare");
    }
    const int64_t version = read_int_attr(root, "version");
    if (version != kImageCacheVersion) {
      throw Error(path + ": image cache version " + std::to_string(version) +
                  ", this clbench reads " + std::to_string(kImageCacheVersion) +
                  "; run clbench prepare again");
    }
    dataset_ = read_text_attr(root, "dataset");
    content_hash_ = read_text_attr(root, "content_hash");
    store_size_ = read_int_attr(root, "store_size");
    num_classes_ = read_int_attr(root, "num_classes");
    class_names_ = read_strings(root, "class_names");
    if (num_classes_ <= 0 || class_names_.size() != static_cast<size_t>(num_classes_)) {
      throw Error(path + ": num_classes " + std::to_string(num_classes_) + " but " +
                  std::to_string(class_names_.size()) + " class names");
    }
    train_ = std::make_shared<CachedImages>(file_, path, "train", num_classes_);
    test_ = std::make_shared<CachedImages>(file_, path, "test", num_classes_);
  } catch (const H5::Exception& e) {
    throw Error(path + ": not a readable image cache (" + h5_detail(e) + ")");
  }
}

ImageCache::~ImageCache() = default;

std::shared_ptr<const ImageSource> ImageCache::split(const std::string& name) const {
  if (name == "train") return train_;
  if (name == "test") return test_;
  throw Error(path_ + ": no split '" + name + "' (train or test)");
}

}  // namespace clbench
