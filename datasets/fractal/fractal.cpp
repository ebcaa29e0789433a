#include "datasets/fractal/fractal.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <random>
#include <string>

#include "harness/foundation/error.h"
#include "harness/foundation/random.h"

namespace clbench {
namespace {

// Chaos-game iterations dropped before drawing: the start (0, 0) is usually off the attractor.
constexpr int kBurnIn = 20;
// A point this far out means the random product of maps is expanding: the rendering is unusable.
constexpr double kDiverged = 1e8;
// Candidate systems tried per category before giving up on the threshold.
constexpr int kMaxAttempts = 20000;

// Uniform in [0, 1): the same on every standard library, unlike std::uniform_real_distribution.
double uniform01(std::mt19937_64& rng) {
  return unit_interval(rng());
}

enum Stream : uint64_t { kSystemStream = 1, kPointStream = 2, kFlipStream = 3 };

// Seed of the chaos game of (category, instance): the same in the search and in render().
uint64_t point_seed(uint64_t seed, int64_t category, int64_t instance) {
  return mix_seed(
      {seed, static_cast<uint64_t>(category), static_cast<uint64_t>(instance), kPointStream});
}

std::vector<AffineMap> random_system(std::mt19937_64& rng) {
  const int n = 2 + static_cast<int>(rng() % 7);  // 2..8 maps
  std::vector<AffineMap> maps(static_cast<size_t>(n));
  for (auto& m : maps) {
    double* p[] = {&m.a, &m.b, &m.c, &m.d, &m.e, &m.f};
    for (double* v : p) *v = 2.0 * uniform01(rng) - 1.0;
  }
  return maps;
}

// FractalDB weight pattern `pattern`: parameter (pattern - 1) / 4 of every map scaled by
// 0.8, 0.9, 1.1 or 1.2; pattern 0 leaves the system unchanged.
std::vector<AffineMap> weighted(std::vector<AffineMap> maps, int64_t pattern) {
  if (pattern == 0) return maps;
  static constexpr double kFactors[] = {0.8, 0.9, 1.1, 1.2};
  const int64_t param = (pattern - 1) / 4;
  const double factor = kFactors[(pattern - 1) % 4];
  for (auto& m : maps) {
    double* p[] = {&m.a, &m.b, &m.c, &m.d, &m.e, &m.f};
    *p[param] *= factor;
  }
  return maps;
}

// Draws `points` chaos-game points of `maps` (map i chosen with probability proportional to
// |det A_i|, as FractalDB) onto a size x size grid, stretched to the points' bounding box with a
// one-pixel margin. Returns an empty image if the points diverge.
std::vector<uint8_t> chaos_game(const std::vector<AffineMap>& maps, int64_t size, int64_t points,
                                uint64_t seed, bool flip) {
  std::vector<double> cumulative;
  double total = 0;
  for (const auto& m : maps) cumulative.push_back(total += std::abs(m.a * m.d - m.b * m.c));
  std::mt19937_64 rng(seed);
  std::vector<double> xs, ys;
  xs.reserve(static_cast<size_t>(points));
  ys.reserve(static_cast<size_t>(points));
  double x = 0, y = 0;
  for (int64_t k = 0; k < points + kBurnIn; ++k) {
    const double u = uniform01(rng) * total;
    size_t i = 0;
    while (i + 1 < maps.size() && u >= cumulative[i]) ++i;
    const AffineMap& m = maps[i];
    const double nx = m.a * x + m.b * y + m.e;
    y = m.c * x + m.d * y + m.f;
    x = nx;
    if (!(std::abs(x) < kDiverged && std::abs(y) < kDiverged)) return {};
    if (k >= kBurnIn) {
      xs.push_back(x);
      ys.push_back(y);
    }
  }
  const auto [xmin, xmax] = std::minmax_element(xs.begin(), xs.end());
  const auto [ymin, ymax] = std::minmax_element(ys.begin(), ys.end());
  const int64_t margin = size > 4 ? 1 : 0, span = size - 2 * margin;
  auto pixel = [&](double v, double lo, double hi) {
    if (!(hi - lo > 1e-12)) return margin + span / 2;
    const auto p = static_cast<int64_t>((v - lo) / (hi - lo) * static_cast<double>(span));
    return margin + std::min(p, span - 1);
  };
  std::vector<uint8_t> image(static_cast<size_t>(size * size), 0);
  for (size_t k = 0; k < xs.size(); ++k) {
    int64_t col = pixel(xs[k], *xmin, *xmax);
    const int64_t row = size - 1 - pixel(ys[k], *ymin, *ymax);  // y up, as FractalDB
    if (flip) col = size - 1 - col;
    image[static_cast<size_t>(row * size + col)] = 255;
  }
  return image;
}

void check_options(const FractalOptions& o) {
  auto fail = [](const std::string& option, const std::string& value, const std::string& why) {
    throw Error("fractal options: bad " + option + " " + value + ": " + why);
  };
  if (o.classes <= 0) fail("classes", std::to_string(o.classes), "must be at least 1");
  if (o.image_size <= 0 || o.image_size > 4096)
    fail("image_size", std::to_string(o.image_size), "must be in 1..4096");
  if (o.channels <= 0 || o.channels > 4)
    fail("channels", std::to_string(o.channels), "must be in 1..4");
  if (o.points < 0 || o.points > (int64_t{1} << 28))
    fail("points", std::to_string(o.points), "must be in 0..2^28 (0: 2 * image_size^2)");
  if (!(o.fill_threshold >= 0 && o.fill_threshold < 1))
    fail("fill_threshold", std::to_string(o.fill_threshold), "must be in [0, 1)");
}

}  // namespace

double filling_rate(const std::vector<uint8_t>& image) {
  if (image.empty()) return 0;
  const auto lit = std::count_if(image.begin(), image.end(), [](uint8_t v) { return v != 0; });
  return static_cast<double>(lit) / static_cast<double>(image.size());
}

FractalSet::FractalSet(FractalOptions options) : options_(options) {
  check_options(options_);
  if (options_.points == 0) options_.points = 2 * options_.image_size * options_.image_size;
  const int64_t size = options_.image_size, points = options_.points;
  for (int64_t c = 0; c < options_.classes; ++c) {
    // Each category has its own stream, so the first k categories do not depend on `classes`.
    std::mt19937_64 rng(mix_seed({options_.seed, static_cast<uint64_t>(c), kSystemStream}));
    const uint64_t seed = point_seed(options_.seed, c, 0);
    for (int attempt = 0; static_cast<int64_t>(systems_.size()) == c; ++attempt) {
      if (attempt == kMaxAttempts) {
        throw Error("fractal options: no system reached fill_threshold " +
                    std::to_string(options_.fill_threshold) + " in " +
                    std::to_string(kMaxAttempts) + " tries for category " + std::to_string(c) +
                    " (image_size " + std::to_string(size) + ", points " + std::to_string(points) +
                    "); lower the threshold or use more points");
      }
      auto maps = random_system(rng);
      // Instance 0's rendering decides, as FractalDB's search renders each candidate once.
      if (filling_rate(chaos_game(maps, size, points, seed, false)) >= options_.fill_threshold)
        systems_.push_back(std::move(maps));
    }
  }
}

const std::vector<AffineMap>& FractalSet::system(int64_t category) const {
  if (category < 0 || category >= classes()) {
    throw Error("fractal category " + std::to_string(category) + " out of range 0.." +
                std::to_string(classes() - 1));
  }
  return systems_[static_cast<size_t>(category)];
}

std::vector<uint8_t> FractalSet::render(int64_t category, int64_t instance) const {
  const auto& maps = system(category);
  if (instance < 0) throw Error("fractal instance " + std::to_string(instance) + " is negative");
  const uint64_t c = static_cast<uint64_t>(category), i = static_cast<uint64_t>(instance);
  const bool flip = instance != 0 && (mix_seed({options_.seed, c, i, kFlipStream}) & 1) != 0;
  const uint64_t seed = point_seed(options_.seed, category, instance);
  auto grey = chaos_game(weighted(maps, instance % kWeightPatterns), options_.image_size,
                         options_.points, seed, flip);
  // A scaled parameter can make the maps expanding on average: then draw the category's own
  // (accepted) system instead.
  if (grey.empty()) grey = chaos_game(maps, options_.image_size, options_.points, seed, flip);
  if (grey.empty()) grey.assign(static_cast<size_t>(options_.image_size * options_.image_size), 0);
  std::vector<uint8_t> image;
  image.reserve(grey.size() * static_cast<size_t>(options_.channels));
  for (int64_t ch = 0; ch < options_.channels; ++ch)
    image.insert(image.end(), grey.begin(), grey.end());
  return image;
}

}  // namespace clbench
