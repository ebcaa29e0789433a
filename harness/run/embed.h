#pragma once
// `clbench embed`: features of a backbone (random or --pretrained) for the images of an HDF5 file
// (datasets/readers/h5_images.h), written as dataset "features" (N x D float32) of another.
#include <cstdint>
#include <string>

#include "harness/run/cpu_kernels.h"

namespace clbench {

struct EmbedOptions {
  std::string backbone = "vit-tiny28";
  std::string pretrained;  // safetensors file loaded with load_backbone_weights; empty: none
  std::string images;      // input HDF5 file with dataset "images"
  std::string out;         // output HDF5 file, written atomically
  int64_t batch_size = 256;
  uint64_t seed = 0;  // initialisation when there is no --pretrained file
  int threads = 0;    // intra-op CPU threads; 0: resolve_threads (harness/run/cpu_kernels.h)
  std::string cpu_kernels = kDefaultCpuKernels;  // harness/run/cpu_kernels.h
};

struct EmbedSummary {
  int64_t count = 0, dim = 0;
};

// Runs the backbone in eval mode without gradients, batch by batch.
EmbedSummary embed(const EmbedOptions& options);

}  // namespace clbench
