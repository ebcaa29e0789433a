// The HDF5 image cache of `clbench prepare`: round trip against direct decoding, the content hash,
// and rejection of files that are not (valid) caches.
#include <gtest/gtest.h>

#include <H5Cpp.h>

#include <string>
#include <vector>

#include "datasets/images/image_cache.h"
#include "datasets/images/image_source.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using testing::expect_error;
using testing::TempDir;

// `n` JPEGs of different sizes under <root>/c<label>/, labels cycling over 3 classes.
std::vector<ImageRecord> jpeg_records(const std::string& root, int n, int first_seed) {
  std::vector<ImageRecord> records;
  for (int i = 0; i < n; ++i) {
    const int h = 5 + i, w = 9 + 2 * i;
    std::vector<uint8_t> rgb(static_cast<size_t>(h * w * 3));
    for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = static_cast<uint8_t>(k * 7 + i * 31);
    const std::string path =
        root + "/c" + std::to_string(i % 3) + "/img_" + std::to_string(first_seed + i) + ".jpg";
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    encode_jpeg(path, rgb, w, h, 90);
    records.push_back({path, i % 3});
  }
  return records;
}

CacheContents three_classes(int64_t store_size) {
  CacheContents c;
  c.dataset = "test/fixture";
  c.num_classes = 3;
  c.class_names = {"c0", "c1", "c2"};
  c.store_size = store_size;
  return c;
}

// A cache in `dir` of three JPEGs (the same images as train and test split); returns its path.
std::string three_image_cache(const TempDir& dir, int64_t store_size = 0) {
  const auto root = dir.path("data");
  const auto src = file_images(jpeg_records(root, 3, 0), root);
  const std::string path = dir.path("cache.h5");
  write_image_cache(path, three_classes(store_size), *src, *src, 1);
  return path;
}

TEST(ImageCache, RoundTripEqualsDirectDecoding) {
  TempDir dir;
  const auto root = dir.path("data");
  const auto train = file_images(jpeg_records(root, 7, 0), root);
  const auto test = file_images(jpeg_records(root, 4, 100), root);
  const std::string path = dir.path("cache.h5");
  const auto hash = write_image_cache(path, three_classes(0), *train, *test, 2);
  const ImageCache cache(path);
  EXPECT_EQ(cache.dataset(), "test/fixture");
  EXPECT_EQ(cache.content_hash(), hash);
  EXPECT_EQ(cache.num_classes(), 3);
  EXPECT_EQ(cache.class_names(), (std::vector<std::string>{"c0", "c1", "c2"}));
  for (const auto& [name, direct] : {std::pair{"train", train}, std::pair{"test", test}}) {
    const auto cached = cache.split(name);
    ASSERT_EQ(cached->size(), direct->size());
    for (int64_t i = 0; i < direct->size(); ++i) {
      const auto a = direct->read(i), b = cached->read(i);
      EXPECT_EQ(b.height, a.height);
      EXPECT_EQ(b.width, a.width);
      EXPECT_EQ(b.pixels, a.pixels) << name << " " << i;
      EXPECT_EQ(cached->label(i), direct->label(i));
      EXPECT_EQ(cached->name(i), direct->name(i));
    }
  }
  EXPECT_EQ(train->name(1), "c1/img_1.jpg");
}

TEST(ImageCache, StoresTheShorterSideAtTheStoreSize) {
  TempDir dir;
  const std::string path = three_image_cache(dir, 4);
  const ImageCache cache(path);
  EXPECT_EQ(cache.store_size(), 4);
  for (int64_t i = 0; i < 3; ++i) {
    const auto img = cache.split("train")->read(i);
    EXPECT_EQ(std::min(img.height, img.width), 4) << i;
  }
}

TEST(ImageCache, ContentHashFollowsTheInputBytesAndLabels) {
  TempDir dir;
  const auto root = dir.path("data");
  auto records = jpeg_records(root, 4, 0);
  const auto hash = [&](const std::vector<ImageRecord>& r) {
    const auto src = file_images(r, root);
    return write_image_cache(dir.path("c.h5"), three_classes(0), *src, *src, 1);
  };
  const auto original = hash(records);
  EXPECT_EQ(hash(records), original);  // deterministic, whatever the thread count
  auto relabelled = records;
  relabelled[2].label = 0;
  EXPECT_NE(hash(relabelled), original);
  // One changed pixel in one file changes the hash.
  std::vector<uint8_t> rgb(5 * 9 * 3, 9);
  encode_jpeg(records[0].path, rgb, 9, 5, 90);
  EXPECT_NE(hash(records), original);
}

TEST(ImageCache, AnUnreadableImageNamesItsFile) {
  TempDir dir;
  const auto root = dir.path("data");
  auto records = jpeg_records(root, 2, 0);
  testing::write_text(records[1].path, "not a jpeg");
  const auto src = file_images(records, root);
  expect_error([&] { write_image_cache(dir.path("c.h5"), three_classes(0), *src, *src, 2); },
               {records[1].path});
  EXPECT_FALSE(std::filesystem::exists(dir.path("c.h5")));  // nothing half-written
}

TEST(ImageCache, RejectsFilesThatAreNotCaches) {
  TempDir dir;
  expect_error([&] { ImageCache c(dir.path("missing.h5")); }, {"missing.h5", "no such"});
  testing::write_text(dir.path("text.h5"), "hello");
  expect_error([&] { ImageCache c(dir.path("text.h5")); }, {"text.h5", "not an HDF5 file"});
  { H5::H5File f(dir.path("other.h5"), H5F_ACC_TRUNC); }
  expect_error([&] { ImageCache c(dir.path("other.h5")); },
               {"other.h5", "not a clbench image cache", "clbench prepare"});
}

TEST(ImageCache, RejectsACacheWhoseIndexContradictsItsPixels) {
  TempDir dir;
  const std::string path = three_image_cache(dir);
  {  // image 1 claims one more row than it has
    H5::H5File f(path, H5F_ACC_RDWR);
    auto ds = f.openDataSet("/test/heights");
    std::vector<int32_t> h(3);
    ds.read(h.data(), H5::PredType::NATIVE_INT32);
    h[1] += 1;
    ds.write(h.data(), H5::PredType::NATIVE_INT32);
  }
  expect_error([&] { ImageCache c(path); }, {path, "/test", "image 2", "offset"});
}

// Images are read straight from the pixel chunks' file addresses: pixels that another tool
// compressed, or chunks past the end of a cut file, are refused when the cache is opened.
TEST(ImageCache, RejectsCompressedPixelsAndACutFile) {
  TempDir dir;
  const std::string path = three_image_cache(dir);
  const std::string packed = dir.path("packed.h5"), cut = dir.path("cut.h5");
  std::filesystem::copy_file(path, packed);
  std::filesystem::copy_file(path, cut);
  {
    H5::H5File f(packed, H5F_ACC_RDWR);
    auto ds = f.openDataSet("/train/pixels");
    hsize_t n = 0;
    ds.getSpace().getSimpleExtentDims(&n);
    std::vector<uint8_t> bytes(n);
    ds.read(bytes.data(), H5::PredType::NATIVE_UINT8);
    f.unlink("/train/pixels");
    H5::DSetCreatPropList props;
    props.setChunk(1, &n);
    props.setDeflate(6);
    auto z = f.createDataSet("/train/pixels", H5::PredType::STD_U8LE, H5::DataSpace(1, &n), props);
    z.write(bytes.data(), H5::PredType::NATIVE_UINT8);
  }
  expect_error([&] { ImageCache c(packed); }, {packed, "/train", "uncompressed chunks"});
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) - 4096);
  expect_error([&] { ImageCache c(cut); }, {cut});
}

TEST(ImageCache, ValidateNamesTheFirstBadEntry) {
  CacheSplitIndex ok;
  ok.offsets = {0, 12};
  ok.heights = {2, 1};
  ok.widths = {2, 3};
  ok.labels = {0, 1};
  ok.files = 2;
  ok.pixel_bytes = 21;
  validate_cache_split("f.h5", "train", ok, 2);
  auto bad = ok;
  bad.labels[1] = 2;
  expect_error([&] { validate_cache_split("f.h5", "train", bad, 2); },
               {"f.h5", "/train", "image 1", "label 2"});
  bad = ok;
  bad.pixel_bytes = 20;
  expect_error([&] { validate_cache_split("f.h5", "train", bad, 2); },
               {"image 1", "past the 20 bytes"});
  bad.pixel_bytes = 22;
  expect_error([&] { validate_cache_split("f.h5", "train", bad, 2); }, {"21", "holds 22"});
  bad = ok;
  bad.widths[0] = 0;
  expect_error([&] { validate_cache_split("f.h5", "train", bad, 2); }, {"image 0", "bad size"});
  bad = ok;
  bad.files = 1;
  expect_error([&] { validate_cache_split("f.h5", "train", bad, 2); }, {"differ in length"});
  bad = ok;
  bad.offsets[1] = 11;
  expect_error([&] { validate_cache_split("f.h5", "train", bad, 2); }, {"image 1", "offset 11"});
}

TEST(ImageCache, ParallelForRunsEveryIndexOnceAndRethrows) {
  std::vector<int> hits(1000, 0);
  parallel_for(1000, 3, [&](int64_t i) { hits[i]++; });
  for (int h : hits) ASSERT_EQ(h, 1);
  EXPECT_THROW(parallel_for(10, 2,
                            [](int64_t i) {
                              if (i == 7) throw Error("seven");
                            }),
               Error);
}

}  // namespace
}  // namespace clbench
