// clbench prepare: an image benchmark decoded once into the HDF5 cache that `run --cache` reads.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "datasets/benchmarks/paper_benchmarks.h"
#include "datasets/images/image_cache.h"
#include "harness/cli/command.h"
#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/run/imagenet_r_split.h"
#include "harness/run/plan.h"

namespace clbench {
namespace {

struct PrepareArgs {
  std::string benchmark, data_root, out, split_into;
  int64_t split_seed = 0;
  int64_t store_size = 256;
  int threads = 2;
  std::vector<std::string> sets;
};

// The official ImageNet-R archive split as InfLoRA's and dualprompt-pytorch's code split it.
int split_archive(const PrepareArgs& a) {
  if (a.benchmark.rfind("imagenet-r", 0) != 0) {
    throw Error("--split-into makes ImageNet-R's train/test split from the official archive; '" +
                a.benchmark + "' is not an imagenet-r benchmark");
  }
  const ArchiveSplit n = split_imagenet_r_archive(a.data_root, a.split_into, a.split_seed);
  std::printf(
      "%s: %lld train and %lld test images (random_split 80/20, seed %lld); run with "
      "--data-root %s\n",
      a.split_into.c_str(), static_cast<long long>(n.train), static_cast<long long>(n.test),
      static_cast<long long>(a.split_seed), a.split_into.c_str());
  return 0;
}

int prepare(const PrepareArgs& a) {
  if (!a.split_into.empty()) return split_archive(a);
  if (a.out.empty()) throw Error("clbench prepare needs --out FILE.h5 (or --split-into DIR)");
  check_output(a.out);  // before decoding anything
  nlohmann::json user = {{"benchmark", a.benchmark}, {"data_root", a.data_root}};
  apply_sets(user, a.sets);
  const RunPlan plan = plan_run(user);
  const ImageSplits splits = find_image_data(a.benchmark).read(plan.config);
  std::fprintf(stderr, "prepare %s: %lld train + %lld test images of %s -> %s\n",
               a.benchmark.c_str(), static_cast<long long>(splits.train->size()),
               static_cast<long long>(splits.test->size()), splits.data_id.c_str(), a.out.c_str());
  CacheContents contents;
  contents.dataset = splits.data_id;
  contents.num_classes = splits.num_classes;
  contents.class_names = splits.class_names;
  contents.store_size = a.store_size;
  int64_t last_percent = -1;
  const std::string hash = write_image_cache(
      a.out, contents, *splits.train, *splits.test, a.threads, [&](int64_t done, int64_t total) {
        const int64_t percent = total ? 100 * done / total : 100;
        if (percent / 10 != last_percent / 10) {
          std::fprintf(stderr, "  %lld / %lld images\n", static_cast<long long>(done),
                       static_cast<long long>(total));
          last_percent = percent;
        }
      });
  std::printf("%s: %s, content hash %s\n", a.out.c_str(), splits.data_id.c_str(), hash.c_str());
  return 0;
}

}  // namespace

Command add_prepare(CLI::App& app) {
  auto* prep = app.add_subcommand(
      "prepare", "decode an image benchmark once into an HDF5 cache that 'run --cache' reads");
  auto a = std::make_shared<PrepareArgs>();
  prep->add_option("benchmark", a->benchmark, "image benchmark (see clbench list)")->required();
  prep->add_option("--data-root", a->data_root, "dataset folder")->required();
  prep->add_option("--out", a->out, "cache file to write (.h5)");
  prep->add_option("--split-into", a->split_into,
                   "imagenet-r: write DIR/train and DIR/test from the official archive at "
                   "--data-root, as InfLoRA's and dualprompt-pytorch's code split it (hard links)");
  prep->add_option("--split-seed", a->split_seed,
                   "the split's torch seed: 0 as InfLoRA (default), 42 as dualprompt-pytorch")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 62));
  prep->add_option("--store-size", a->store_size,
                   "shorter side of the stored images (0: as decoded)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{65536}));
  prep->add_option("--threads", a->threads, "decoding threads")
      ->capture_default_str()
      ->check(CLI::Range(1, static_cast<int>(max_threads())));
  prep->add_option("--set", a->sets,
                   "key=value of the benchmark, e.g. imagenet-r.layout=coda (repeatable)");
  return {prep, [a](Communicator*) { return prepare(*a); }};
}

}  // namespace clbench
