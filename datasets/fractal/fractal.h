#pragma once
// FractalDB-style formula-driven images (Kataoka et al., ACCV 2020, "Pre-training without Natural
// Images"). A category is an iterated function system (IFS) of 2..8 random affine maps, kept only
// if its chaos-game rendering lights enough pixels; an instance is the category with one
// parameter scaled by a FractalDB "weight pattern", drawn with its own chaos-game points and a
// random horizontal flip. Everything follows from (seed, category, instance), so images are
// rendered on the fly and never stored.
#include <cstdint>
#include <vector>

namespace clbench {

struct FractalOptions {
  int64_t classes = 100;
  int64_t image_size = 28;  // square images, image_size x image_size
  int64_t channels = 1;     // the grey image repeated
  int64_t points = 0;       // chaos-game points per image; 0: 2 * image_size^2
  // Minimum fraction of lit pixels for a category to be accepted. FractalDB uses 0.2 at 512 px
  // (100k points drawn as 3x3 patches, a similar ink density); at 28-32 px with 2 points per
  // pixel, 0.2 still keeps about half of the random systems and rejects the sparse ones (a few
  // far-out points stretch the bounding box and leave lines and dots).
  double fill_threshold = 0.2;
  uint64_t seed = 0;
};

// (x, y) -> (a x + b y + e, c x + d y + f), FractalDB's parameter order.
struct AffineMap {
  double a, b, c, d, e, f;
};

class FractalSet {
 public:
  // Generates every category (rejection sampling). Bad options: clbench::Error naming the option.
  explicit FractalSet(FractalOptions options);

  int64_t classes() const { return static_cast<int64_t>(systems_.size()); }
  const FractalOptions& options() const { return options_; }
  // The category's IFS as accepted (weight pattern 0, no scaling).
  const std::vector<AffineMap>& system(int64_t category) const;
  // channels x image_size x image_size bytes, row-major; lit pixels are 255, the rest 0.
  // Instance i uses weight pattern i % kWeightPatterns; instance 0 is the accepted rendering.
  std::vector<uint8_t> render(int64_t category, int64_t instance) const;

  // 1 (unchanged) + 6 parameters x {0.8, 0.9, 1.1, 1.2} (FractalDB weights_0.1.csv).
  static constexpr int64_t kWeightPatterns = 25;

 private:
  FractalOptions options_;
  std::vector<std::vector<AffineMap>> systems_;
};

// Fraction of non-zero bytes (lit pixels) in an image of any shape.
double filling_rate(const std::vector<uint8_t>& image);

}  // namespace clbench
