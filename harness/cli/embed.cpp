// clbench embed: a backbone's features of the images in an HDF5 file.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "harness/cli/command.h"
#include "harness/run/embed.h"
#include "harness/run/plan.h"

namespace clbench {

Command add_embed(CLI::App& app) {
  auto* emb = app.add_subcommand("embed", "backbone features of the images in an HDF5 file");
  auto o = std::make_shared<EmbedOptions>();
  emb->add_option("--backbone", o->backbone, "backbone (see clbench list)")->required();
  emb->add_option("--pretrained", o->pretrained, "weights (.safetensors) to load");
  emb->add_option("--images", o->images,
                  "HDF5 file with dataset 'images': float N x C x H x W or uint8 N x H x W x C, "
                  "C = 1 or 3")
      ->required();
  emb->add_option("--out", o->out, "HDF5 file to write dataset 'features' (N x D) to")->required();
  emb->add_option("--batch-size", o->batch_size, "images per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  emb->add_option("--seed", o->seed, "initialisation without --pretrained")->capture_default_str();
  emb->add_option("--threads", o->threads, "CPU threads (0: LibTorch's default)")
      ->capture_default_str()
      ->check(CLI::Range(0, static_cast<int>(max_threads())));
  add_cpu_kernels_option(*emb, o->cpu_kernels);
  return {emb, [o](Communicator*) {
            const EmbedSummary done = embed(*o);
            std::printf("%lld x %lld features -> %s\n", static_cast<long long>(done.count),
                        static_cast<long long>(done.dim), o->out.c_str());
            return 0;
          }};
}

}  // namespace clbench
