#include "harness/run/embed.h"

#include <torch/torch.h>

#include "datasets/readers/h5_images.h"
#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/models/backbones.h"
#include "harness/models/weights.h"
#include "harness/run/cpu_kernels.h"

namespace clbench {

EmbedSummary embed(const EmbedOptions& o) {
  if (o.batch_size < 1) {
    throw Error("embed: bad batch size " + std::to_string(o.batch_size) + ": must be at least 1");
  }
  if (o.threads < 0) throw Error("embed: bad threads " + std::to_string(o.threads));
  check_output(o.out, {o.images, o.pretrained});  // before any work
  apply_cpu_kernels(o.cpu_kernels);
  torch::set_num_threads(resolve_threads(o.threads));
  const H5ImageReader reader(o.images);
  const auto shape = reader.image_shape();
  torch::manual_seed(o.seed);
  auto backbone = make_classifier(o.backbone, shape, 1)->backbone;  // the head is not used
  if (!o.pretrained.empty()) load_backbone_weights(*backbone, o.pretrained);
  backbone->eval();
  torch::NoGradGuard no_grad;

  const int64_t n = reader.count(), dim = backbone->feature_dim();
  std::vector<float> features(static_cast<size_t>(n * dim));
  for (int64_t start = 0; start < n; start += o.batch_size) {
    const int64_t count = std::min(o.batch_size, n - start);
    auto pixels = reader.read(start, count);
    const auto x =
        torch::from_blob(pixels.data(), {count, shape[0], shape[1], shape[2]}, torch::kFloat32);
    const auto f = backbone->forward(x).to(torch::kFloat32).contiguous();
    std::copy(f.data_ptr<float>(), f.data_ptr<float>() + count * dim,
              features.begin() + start * dim);
  }
  write_h5_matrix(o.out, "features", features, n, dim,
                  {{"backbone", o.backbone}, {"pretrained", o.pretrained}, {"images", o.images}});
  return {n, dim};
}

}  // namespace clbench
