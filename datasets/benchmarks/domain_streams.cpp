// Permuted and rotated (Fashion-)MNIST: every task is the whole dataset seen through one fixed
// transform of its own, a pixel permutation or a rotation (GEM, Lopez-Paz & Ranzato 2017, Sec. 5,
// facebookresearch/GradientEpisodicMemory data/mnist_permutations.py, data/mnist_rotations.py;
// van de Ven et al. 2022; Mammoth's perm-mnist, rot-mnist). Scenario domain-il (the default):
// the 10 classes are shared, one head, no task id. class-il / task-il: task t's labels are
// y + 10 t (van de Ven's data/load.py), 10 classes per task.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "datasets/benchmarks/mnist_files.h"
#include "datasets/benchmarks/pixel_maps.h"
#include "datasets/benchmarks/registry.h"
#include "harness/foundation/error.h"
#include "harness/foundation/random.h"

namespace clbench {

std::vector<int64_t> rotation_map(int64_t side, double degrees) {
  // PIL Image.rotate: angle = -radians(degrees); matrix rounded to 15 decimals; centre side/2.
  const double angle = -std::fmod(degrees, 360.0) * M_PI / 180.0;
  const auto round15 = [](double v) { return std::round(v * 1e15) / 1e15; };
  const double a = round15(std::cos(angle)), b = round15(std::sin(angle));
  const double d = round15(-std::sin(angle)), e = round15(std::cos(angle));
  const double centre = static_cast<double>(side) / 2.0;
  const double c = a * -centre + b * -centre + centre, f = d * -centre + e * -centre + centre;
  // libImaging's affine_transform, nearest: start at the first pixel's centre and step, as it does.
  const auto coord = [](double v) { return v < 0.0 ? int64_t{-1} : static_cast<int64_t>(v); };
  std::vector<int64_t> map(static_cast<size_t>(side * side), -1);
  double xo = c + b * 0.5 + a * 0.5, yo = f + e * 0.5 + d * 0.5;
  for (int64_t y = 0; y < side; ++y) {
    double xx = xo, yy = yo;
    for (int64_t x = 0; x < side; ++x) {
      const int64_t xin = coord(xx), yin = coord(yy);
      if (xin >= 0 && xin < side && yin >= 0 && yin < side) {
        map[static_cast<size_t>(y * side + x)] = yin * side + xin;
      }
      xx += a;
      yy += d;
    }
    xo += b;
    yo += e;
  }
  return map;
}

std::vector<std::vector<int64_t>> permutation_maps(int64_t side, int64_t tasks, uint64_t seed,
                                                   bool first_identity) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<std::vector<int64_t>> maps;
  for (int64_t t = 0; t < tasks; ++t) {
    const auto p = first_identity && t == 0 ? torch::arange(side * side, torch::kLong)
                                            : torch::randperm(side * side, generator, torch::kLong);
    maps.emplace_back(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
  }
  return maps;
}

std::vector<double> rotation_angles(int64_t tasks, double min_degrees, double max_degrees,
                                    uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto u = torch::rand({tasks}, generator, torch::kFloat64);
  const double width = (max_degrees - min_degrees) / static_cast<double>(tasks);
  std::vector<double> angles;
  for (int64_t t = 0; t < tasks; ++t)
    angles.push_back(min_degrees + (static_cast<double>(t) + u[t].item<double>()) * width);
  return angles;
}

namespace {

// The base dataset once per task, task t's images through maps[t]: sample i is base sample
// i % N seen as task i / N, labelled y (shared classes) or y + classes_per_task t.
class PixelMapDataset : public Dataset {
 public:
  PixelMapDataset(std::shared_ptr<const TensorDataset> base,
                  const std::vector<std::vector<int64_t>>& maps, bool shared_classes)
      : base_(std::move(base)), shared_(shared_classes) {
    std::vector<torch::Tensor> rows;
    for (const auto& m : maps) rows.push_back(torch::tensor(m, torch::kLong));
    maps_ = torch::stack(rows) + 1;  // {T, HW}; 0: the zero pixel prepended below
  }
  int64_t size() const override { return base_->size() * maps_.size(0); }
  int64_t label(int64_t index) const override {
    const int64_t n = base_->size();
    return base_->label(index % n) + (shared_ ? 0 : kClasses * (index / n));
  }
  std::vector<int64_t> image_shape() const override { return base_->image_shape(); }
  uint64_t sample_identity(int64_t index) const override {
    const int64_t n = base_->size();
    return mix_seed({base_->sample_identity(index % n), static_cast<uint64_t>(index / n)});
  }
  torch::Tensor images(const std::vector<int64_t>& indices) const override {
    const int64_t n = base_->size();
    std::vector<int64_t> own, tasks;
    for (int64_t i : indices) {
      own.push_back(i % n);
      tasks.push_back(i / n);
    }
    const auto pixels = base_->images(own);
    const auto flat = pixels.reshape({pixels.size(0), -1});
    const auto padded = torch::cat({torch::zeros({flat.size(0), 1}, flat.options()), flat}, 1);
    const auto maps = maps_.index_select(0, torch::tensor(tasks, torch::kLong));
    return padded.gather(1, maps).reshape(pixels.sizes());
  }

  static constexpr int64_t kClasses = 10;

 private:
  std::shared_ptr<const TensorDataset> base_;
  torch::Tensor maps_;  // {T, side * side}: each task's source pixel + 1
  bool shared_ = true;
};

// Tasks of the stream: task t owns samples [t N, (t + 1) N) of each split; shared classes: every
// task has all 10 classes (class range [0, 10)), else task t has classes 10 t .. 10 t + 9.
TaskStream domain_stream(const std::string& benchmark, std::shared_ptr<const TensorDataset> train,
                         std::shared_ptr<const TensorDataset> test,
                         const std::vector<std::vector<int64_t>>& maps, bool shared) {
  const auto tasks = static_cast<int64_t>(maps.size());
  const int64_t per_task = PixelMapDataset::kClasses;
  auto train_view = std::make_shared<PixelMapDataset>(train, maps, shared);
  auto test_view = std::make_shared<PixelMapDataset>(test, maps, shared);
  if (!shared) {
    std::vector<int64_t> order(static_cast<size_t>(per_task * tasks));
    for (size_t c = 0; c < order.size(); ++c) order[c] = static_cast<int64_t>(c);
    return split_by_class(benchmark, train_view, test_view, order, per_task, per_task);
  }
  TaskStream s;
  s.benchmark = benchmark;
  for (int64_t c = 0; c < per_task; ++c) {
    s.class_order.push_back(c);
    s.to_internal.push_back(c);
  }
  const int64_t n_train = train->size(), n_test = test->size();
  for (int64_t t = 0; t < tasks; ++t) {
    Task task;
    task.index = static_cast<int>(t);
    task.classes = s.class_order;
    task.class_begin = 0;
    task.class_end = per_task;
    for (int64_t i = 0; i < n_train; ++i) task.train.push_back(t * n_train + i);
    for (int64_t i = 0; i < n_test; ++i) task.test.push_back(t * n_test + i);
    s.tasks.push_back(std::move(task));
  }
  s.train_set = std::move(train_view);
  s.test_set = std::move(test_view);
  return s;
}

// The seed of the transforms: domain.seed, or the run's seed (GEM and van de Ven seed them with
// it).
uint64_t transform_seed(const Config& cfg) {
  const int64_t own = cfg.integer("domain.seed");
  return static_cast<uint64_t>(own >= 0 ? own : cfg.integer("seed"));
}

TaskStream make_stream(const Config& cfg, const std::string& benchmark, bool rotate, bool fashion) {
  std::string root = cfg.str("data_root");
  std::string hint = kFashionMnistHint;
  if (!fashion) {
    hint =
        "MNIST: pass --data-root DIR holding train-images-idx3-ubyte(.gz), "
        "train-labels-idx1-ubyte(.gz), t10k-images-idx3-ubyte(.gz), t10k-labels-idx1-ubyte(.gz)";
    if (root.empty()) throw Error("benchmark " + benchmark + " reads MNIST: " + hint);
  } else if (root.empty()) {
    root = kFashionMnistRoot;
  }
  auto train = read_idx_split(root, "train", hint);
  auto test = read_idx_split(root, "t10k", hint);
  const auto shape = train->image_shape();
  if (shape[1] != shape[2]) {
    throw Error(root + ": images of " + std::to_string(shape[1]) + "x" + std::to_string(shape[2]) +
                " pixels; " + benchmark + " needs square images");
  }
  const int64_t side = shape[1], tasks = cfg.integer("domain.tasks");
  std::vector<std::vector<int64_t>> maps;
  if (rotate) {
    const double lo = cfg.num("domain.min_degrees"), hi = cfg.num("domain.max_degrees");
    if (hi < lo) {
      throw Error("domain.max_degrees (" + std::to_string(hi) + ") is below domain.min_degrees (" +
                  std::to_string(lo) + ")");
    }
    for (double angle : rotation_angles(tasks, lo, hi, transform_seed(cfg)))
      maps.push_back(rotation_map(side, angle));
  } else {
    maps = permutation_maps(side, tasks, transform_seed(cfg), cfg.flag("domain.first_unpermuted"));
  }
  return domain_stream(benchmark, train, test, maps, cfg.str("scenario") == "domain-il");
}

std::vector<OptionSpec> domain_keys(bool rotate) {
  std::vector<OptionSpec> keys = {
      {"domain.tasks",
       10,
       "number of tasks (GEM's runs: 20; van de Ven's permuted: 10)",
       {},
       {1, 1000}},
      {"domain.seed",
       -1,
       "seed of the permutations or angles (-1: the run's seed, as GEM)",
       {},
       {-1, 9e15}}};
  if (rotate) {
    keys.push_back(
        {"domain.min_degrees", 0.0, "smallest rotation angle (GEM: 0)", {}, {-360, 360}});
    keys.push_back(
        {"domain.max_degrees", 180.0, "largest rotation angle (GEM: 180)", {}, {-360, 360}});
  } else {
    keys.push_back({"domain.first_unpermuted", false,
                    "task 1 keeps its pixels (van de Ven's seed-0 exception; GEM permutes it)"});
  }
  return keys;
}

// Mammoth's perm-mnist / rot-mnist protocol (datasets/perm_mnist.py: MNISTMLP, 1 epoch, batch
// 128, SGD) with clbench's mlp; lr as Mammoth's SGD baseline (utils/best_args.py: 0.2 on
// perm-mnist) is left to the suites: 0.1 here.
nlohmann::json domain_defaults() {
  return {{"backbone", "mlp"}, {"epochs", 1},       {"optimizer", "sgd"},
          {"lr", 0.1},         {"batch_size", 128}, {"scenario", "domain-il"}};
}

bool register_domain_stream(const std::string& name, bool rotate, bool fashion) {
  const std::string data =
      fashion ? "Fashion-MNIST (IDX, --data-root; Debian's dataset-fashion-mnist by default)"
              : "MNIST IDX files (--data-root)";
  const std::string summary = data + ": " + (rotate ? "one rotation" : "one pixel permutation") +
                              " per task, 10 tasks x 10 shared classes (domain-IL)";
  BenchmarkEntry entry{name, summary, domain_keys(rotate), domain_defaults(),
                       [name, rotate, fashion](const Config& cfg) {
                         return make_stream(cfg, name, rotate, fashion);
                       }};
  entry.domain_incremental = true;
  return register_benchmark(std::move(entry));
}

const bool registered_domain_streams = register_domain_stream("permuted-fmnist", false, true) &&
                                       register_domain_stream("rotated-fmnist", true, true) &&
                                       register_domain_stream("permuted-mnist", false, false) &&
                                       register_domain_stream("rotated-mnist", true, false);

}  // namespace
}  // namespace clbench
