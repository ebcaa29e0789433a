#pragma once
// The per-task input transforms of the domain-incremental MNIST streams, as pixel maps: output
// pixel p of a side x side image takes input pixel map[p] (-1: filled with 0).
#include <cstdint>
#include <vector>

namespace clbench {

// PIL's Image.rotate(degrees) with its defaults (counter-clockwise about the centre (side/2,
// side/2), nearest neighbour, no expand, fill 0), which GEM's mnist_rotations.py and Mammoth's
// Rotation (torchvision's rotate of a PIL image) call: PIL's affine matrix, rounded as PIL rounds
// it, applied to each output pixel's centre and truncated (libImaging's nearest affine).
std::vector<int64_t> rotation_map(int64_t side, double degrees);

// `tasks` pixel permutations of side*side pixels from torch.manual_seed(seed) and successive
// torch.randperm calls, as GEM's mnist_permutations.py draws them; with first_identity the first
// task keeps its pixels (van de Ven's seed-0 exception) and the draws start at task 2.
std::vector<std::vector<int64_t>> permutation_maps(int64_t side, int64_t tasks, uint64_t seed,
                                                   bool first_identity);

// One angle per task, task t's drawn uniformly from [min + t d, min + (t + 1) d), d = (max - min) /
// tasks (GEM's stratified rotations), from a torch generator seeded with `seed`.
std::vector<double> rotation_angles(int64_t tasks, double min_degrees, double max_degrees,
                                    uint64_t seed);

}  // namespace clbench
