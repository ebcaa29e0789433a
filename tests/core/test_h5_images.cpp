// Images read from HDF5 (float NCHW as given, uint8 NHWC scaled) and the float matrix writer.
#include "datasets/readers/h5_images.h"

#include <H5Cpp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/core/fixtures.h"

namespace clbench {
namespace {

using testing::expect_error;
using testing::TempDirTest;

template <typename T>
void write_dataset(const std::string& path, const std::string& name, const H5::PredType& type,
                   const std::vector<hsize_t>& dims, const std::vector<T>& values,
                   const H5::PredType& memory_type) {
  H5::H5File file(path, H5F_ACC_TRUNC);
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  file.createDataSet(name, type, space).write(values.data(), memory_type);
}

std::vector<float> iota_floats(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 0.25f * static_cast<float>(i) - 3.0f;
  return v;
}

class H5Images : public TempDirTest {};

TEST_F(H5Images, FloatNchwIsUsedAsGiven) {
  const auto values = iota_floats(5 * 3 * 4 * 2);
  write_dataset(path("f.h5"), "images", H5::PredType::IEEE_F32LE, {5, 3, 4, 2}, values,
                H5::PredType::NATIVE_FLOAT);
  H5ImageReader reader(path("f.h5"));
  EXPECT_EQ(reader.count(), 5);
  EXPECT_EQ(reader.image_shape(), (std::vector<int64_t>{3, 4, 2}));
  EXPECT_FALSE(reader.channels_last());
  EXPECT_EQ(reader.read(0, 5), values);
  const auto middle = reader.read(2, 2);
  EXPECT_EQ(middle, std::vector<float>(values.begin() + 2 * 24, values.begin() + 4 * 24));
  EXPECT_TRUE(reader.read(5, 0).empty());
  expect_error([&] { reader.read(4, 2); }, {path("f.h5"), "out of range"});
}

TEST_F(H5Images, Uint8NhwcIsTransposedAndScaled) {
  // 2 images, 2x3 pixels, 3 channels: value = 100 * channel + 10 * row + col + image.
  std::vector<uint8_t> hwc;
  for (int i = 0; i < 2; ++i)
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c)
        for (int ch = 0; ch < 3; ++ch)
          hwc.push_back(static_cast<uint8_t>(100 * ch + 10 * r + c + i));
  write_dataset(path("u.h5"), "images", H5::PredType::STD_U8LE, {2, 2, 3, 3}, hwc,
                H5::PredType::NATIVE_UINT8);
  H5ImageReader reader(path("u.h5"));
  EXPECT_TRUE(reader.channels_last());
  EXPECT_EQ(reader.image_shape(), (std::vector<int64_t>{3, 2, 3}));
  const auto x = reader.read(1, 1);
  ASSERT_EQ(x.size(), 18u);
  for (int ch = 0; ch < 3; ++ch)
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c)
        EXPECT_FLOAT_EQ(x[static_cast<size_t>(ch * 6 + r * 3 + c)],
                        static_cast<float>(100 * ch + 10 * r + c + 1) / 255.0f);
}

TEST_F(H5Images, GreyLayoutsAreAccepted) {
  write_dataset(path("g.h5"), "images", H5::PredType::IEEE_F64LE, {3, 1, 2, 2},
                std::vector<double>(12, 0.5), H5::PredType::NATIVE_DOUBLE);
  EXPECT_EQ(H5ImageReader(path("g.h5")).image_shape(), (std::vector<int64_t>{1, 2, 2}));
  write_dataset(path("g8.h5"), "images", H5::PredType::STD_U8LE, {3, 2, 2, 1},
                std::vector<uint8_t>(12, 255), H5::PredType::NATIVE_UINT8);
  H5ImageReader grey(path("g8.h5"));
  EXPECT_EQ(grey.image_shape(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(grey.read(0, 3), std::vector<float>(12, 1.0f));
}

TEST_F(H5Images, BadFilesNameFileDatasetAndShape) {
  expect_error([&] { H5ImageReader(path("none.h5")); }, {path("none.h5"), "no such file"});
  testing::write_text(path("text.h5"), "not hdf5");
  expect_error([&] { H5ImageReader(path("text.h5")); }, {path("text.h5"), "not an HDF5 file"});
  write_dataset(path("other.h5"), "pixels", H5::PredType::IEEE_F32LE, {1, 3, 2, 2}, iota_floats(12),
                H5::PredType::NATIVE_FLOAT);
  expect_error([&] { H5ImageReader(path("other.h5")); }, {path("other.h5"), "'images'"});
  EXPECT_EQ(H5ImageReader(path("other.h5"), "pixels").count(), 1);

  struct Case {
    std::vector<hsize_t> dims;
    bool uint8;
    std::string shape;
  };
  for (const auto& c : std::vector<Case>{{{4, 3, 8}, false, "4x3x8"},
                                         {{2, 8, 8, 3}, false, "2x8x8x3"},
                                         {{2, 3, 8, 8}, true, "2x3x8x8"},
                                         {{2, 2, 8, 8}, false, "2x2x8x8"},
                                         {{0, 3, 8, 8}, false, "0x3x8x8"}}) {
    hsize_t n = 1;
    for (auto d : c.dims) n *= d;
    const std::string file = path("bad.h5");
    if (c.uint8) {
      write_dataset(file, "images", H5::PredType::STD_U8LE, c.dims, std::vector<uint8_t>(n),
                    H5::PredType::NATIVE_UINT8);
    } else {
      write_dataset(file, "images", H5::PredType::IEEE_F32LE, c.dims, std::vector<float>(n),
                    H5::PredType::NATIVE_FLOAT);
    }
    expect_error([&] { H5ImageReader r(file); }, {file, "'images'", "shape " + c.shape});
  }
  write_dataset(path("int.h5"), "images", H5::PredType::STD_I16LE, {2, 3, 2, 2},
                std::vector<int16_t>(24), H5::PredType::NATIVE_INT16);
  expect_error([&] { H5ImageReader(path("int.h5")); }, {"2x3x2x2", "int16"});
}

TEST_F(H5Images, MatrixIsWrittenAtomicallyWithAttributes) {
  const std::string out = path("sub/features.h5");
  const auto values = iota_floats(6);
  write_h5_matrix(out, "features", values, 2, 3, {{"backbone", "vit-tiny28"}});
  H5::H5File file(out, H5F_ACC_RDONLY);
  H5::DataSet ds = file.openDataSet("features");
  hsize_t dims[2];
  ds.getSpace().getSimpleExtentDims(dims);
  EXPECT_EQ(dims[0], 2u);
  EXPECT_EQ(dims[1], 3u);
  EXPECT_EQ(ds.getDataType().getSize(), 4u);
  std::vector<float> back(6);
  ds.read(back.data(), H5::PredType::NATIVE_FLOAT);
  EXPECT_EQ(back, values);
  std::string backbone;
  H5::Attribute attr = ds.openAttribute("backbone");
  attr.read(attr.getStrType(), backbone);
  EXPECT_EQ(backbone, "vit-tiny28");
  for (const auto& entry : std::filesystem::directory_iterator(path("sub")))
    EXPECT_EQ(entry.path().filename(), "features.h5");  // no temporary left behind
  expect_error([&] { write_h5_matrix(path("x.h5"), "features", values, 4, 2); },
               {path("x.h5"), "6 values", "4x2"});
}

}  // namespace
}  // namespace clbench
