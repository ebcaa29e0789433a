// synthetic: seeded Gaussian class prototypes rendered as small grey images, for fast tests.
// Each class is its prototype plus pixel noise; the tasks are learnable and still interfere.
#include <torch/torch.h>

#include "datasets/benchmarks/registry.h"

namespace clbench {
namespace {

std::shared_ptr<const Dataset> render(const torch::Tensor& prototypes, int64_t per_class,
                                      double noise, torch::Generator& gen) {
  const int64_t C = prototypes.size(0);
  auto x = prototypes.repeat_interleave(per_class, 0);
  x = (x + noise * torch::randn(x.sizes(), gen)).clamp(0, 1).mul(255).round().to(torch::kUInt8);
  std::vector<int64_t> y;
  for (int64_t c = 0; c < C; ++c) y.insert(y.end(), static_cast<size_t>(per_class), c);
  return std::make_shared<TensorDataset>(x, std::move(y));
}

TaskStream make_synthetic(const Config& cfg) {
  const int64_t C = cfg.integer("synthetic.classes");
  const int64_t side = cfg.integer("synthetic.side");
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(
      static_cast<uint64_t>(cfg.integer("synthetic.data_seed")));
  const auto prototypes = torch::rand({C, 1, side, side}, gen);
  const double noise = cfg.num("synthetic.noise");
  auto train = render(prototypes, cfg.integer("synthetic.train_per_class"), noise, gen);
  auto test = render(prototypes, cfg.integer("synthetic.test_per_class"), noise, gen);
  return configured_stream("synthetic", train, test, cfg, C);
}

const bool registered_synthetic = register_benchmark(
    {"synthetic",
     "generated (seeded) noisy class prototypes, 12x12 grey; 10 classes in 5 tasks of 2",
     {{"synthetic.classes", 10, "number of classes", {}, {1, 100000}},
      {"synthetic.side",
       12,
       "image side in pixels (a multiple of 4 for the cnn backbone)",
       {},
       {1, 1024}},
      {"synthetic.train_per_class", 300, "training samples per class", {}, {1, 1e6}},
      {"synthetic.test_per_class", 40, "test samples per class", {}, {1, 1e6}},
      {"synthetic.noise", 0.35, "pixel noise standard deviation (pixels in [0,1])", {}, {0, 100}},
      {"synthetic.data_seed",
       7,
       "seed of the generated data (independent of the run seed)",
       {},
       {0, 9e15}}},
     {{"backbone", "mlp"},
      {"epochs", 2},
      {"lr", 0.01},
      {"momentum", 0.9},
      {"batch_size", 32},
      {"increment", 2}},
     make_synthetic,
     /*reads_files=*/false});

}  // namespace
}  // namespace clbench
