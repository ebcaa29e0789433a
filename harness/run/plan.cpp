#include "harness/run/plan.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "datasets/benchmarks/registry.h"
#include "harness/distributed/cuda_library.h"
#include "harness/engine/optim.h"
#include "harness/engine/precision.h"
#include "harness/foundation/error.h"
#include "harness/foundation/files.h"
#include "harness/foundation/hash.h"
#include "harness/foundation/options.h"
#include "harness/foundation/text.h"
#include "harness/models/backbones.h"
#include "harness/run/cpu_kernels.h"
#include "methods/method.h"

namespace clbench {

double max_threads() {
  return 4.0 * std::max(1u, std::thread::hardware_concurrency());
}

std::vector<OptionSpec> common_specs() {
  return {
      {"benchmark", "split-fmnist", "task stream (clbench list)"},
      {"method", "finetune", "continual-learning method (clbench list)"},
      {"name", "", "result label (default: the method name), e.g. er-200"},
      {"preset",
       "none",
       "paper: the epochs, batch size, optimiser, learning rate and schedule (and method keys) of "
       "the method's official config for this benchmark, over the defaults; keys given "
       "explicitly still win (README: Paper presets)",
       {"none", "paper"}},
      {"out", "runs", "result folder: <out>/<benchmark>/<label>/seed-<seed>.h5"},
      {"backbone", "mlp", "feature extractor", backbone_names()},
      {"pretrained", "",
       "safetensors file of backbone weights (timm names for ViTs; clbench pretrain); none: "
       "random weights, also for a method on a frozen backbone"},
      {"scenario",
       "class-il",
       "training/evaluation protocol (domain-il: on benchmarks whose tasks share their classes)",
       {"class-il", "task-il", "domain-il"}},
      {"seed", 0, "seed of initialisation, data order and method randomness", {}, {0, 9e15}},
      {"class_order",
       "auto",
       "identity | pycil (numpy permutation) | coda (CPython shuffle); "
       "auto: pycil when class_order_seed >= 0, else identity",
       {"auto", "identity", "pycil", "coda"}},
      {"class_order_seed",
       -1,
       "seed of the class order (-1: identity order)",
       {},
       {-1, 4294967295.0}},
      {"init_classes",
       0,
       "classes of the first task (0: increment), as PyCIL's init_cls",
       {},
       {0, 1e6}},
      {"increment",
       2,
       "classes of every later task (the benchmark's own by default; a smaller last task takes "
       "the remainder)",
       {},
       {1, 1e6}},
      {"data_root", "", "dataset folder (default: the benchmark's)"},
      {"epochs", 1, "epochs per task", {}, {1, 1e5}},
      {"batch_size", 128, "global batch size (split over ranks)", {}, {1, 1e7}},
      {"eval_batch_size", 1024, "evaluation batch size", {}, {1, 1e7}},
      {"eval_future",
       "next",
       "tasks not yet trained that are evaluated after each task: next (task t+1, what FWT needs; "
       "the later ones are stored as NaN, not evaluated) | all (the whole accuracy matrix)",
       {"next", "all"}},
      {"optimizer", "sgd",
       "sgd | adam (L2 weight decay, torch.optim.Adam) | adamw (decoupled weight decay); "
       "re-created at every task",
       optimizer_kinds()},
      {"lr", 0.01, "learning rate", {}, {0, 1e6, true}},
      {"momentum", 0.0, "SGD momentum", {}, {0, 1}},
      {"weight_decay", 0.0, "weight decay", {}, {0, 1e6}},
      {"lr_schedule", "constant",
       "constant | cosine | multistep | coda-cosine (CODA-Prompt's and InfLoRA's), over each "
       "task's epochs",
       lr_schedule_kinds()},
      {"lr_schedule_per",
       "epoch",
       "apply the schedule once per epoch or at every step",
       {"epoch", "step"}},
      {"lr_milestones",
       "",
       "multistep: epochs at which the lr is multiplied by lr_gamma, e.g. 30,60",
       {},
       {1, 1e6},
       integers().increasing()},
      {"lr_gamma", 0.1, "multistep: factor at each milestone", {}, {0, 1e6, true}},
      {"warmup_epochs", 0, "linear warm-up epochs before the schedule", {}, {0, 1e5}},
      {"threads",
       0,
       "intra-op CPU threads (0: OMP_NUM_THREADS, else every core this process may use); the "
       "count decides the bits, so it is part of a result's settings",
       {},
       {0, max_threads()}},
      {"cpu_kernels", kDefaultCpuKernels,
       "portable: the same CPU kernels on every x86-64 machine with AVX2, Intel or AMD, so a seed "
       "gives the same bits everywhere; avx2: the same on machines of one vendor (faster matrix "
       "products); native: the fastest for this processor",
       cpu_kernel_modes()},
      {"loader_threads",
       2,
       "threads decoding and augmenting each batch of an image benchmark; > 0 also loads the "
       "next training batch while one trains (0: everything on the training thread)",
       {},
       {0, max_threads()}},
      {"grad_shards",
       0,
       "cut every global batch into this many parts, a multiple of the rank count (0: one per "
       "rank). Runs with the same value give bit-identical numbers on 1 or 2 ranks",
       {},
       {0, 65536}},
      {"sync_every",
       0,
       "read the training loss back to the host, and check that it is finite, every N steps (and "
       "before a checkpoint and at the end of an epoch): a GPU's queue never waits for the host in "
       "between (0: 1 on the CPU, where it costs nothing, 32 on a GPU)",
       {},
       {0, 1e6}},
      {"device",
       "auto",
       "cpu | cuda (rank r uses GPU local_rank) | auto (cuda when available)",
       {"auto", "cpu", "cuda"}},
      {"precision", "fp32",
       "fp32 (the papers') | tf32 (GPU matrix products in TF32) | bf16 | fp16: autocast of the "
       "forward and the loss over FP32 weights and optimizer state (fp16 with a gradient scaler); "
       "bf16 and fp16 work on the CPU too",
       precision_names()},
      {"optimizer_kernels",
       "auto",
       "plain: LibTorch's optimizers; fused: ATen's fused kernels (torch.optim fused=True), the "
       "same numbers up to float rounding; auto: fused on a GPU, plain on the CPU",
       {"auto", "plain", "fused"}},
      {"overlap_reduction", true,
       "sum gradient buckets over ranks while backward still runs (as DDP); the same bits either "
       "way"},
  };
}

namespace {

std::string user_string(const nlohmann::json& user, const std::string& key,
                        const std::string& fallback) {
  if (!user.contains(key)) return fallback;
  if (!user[key].is_string())
    throw Error("bad value " + user[key].dump() + " for key '" + key + "'");
  return user[key].get<std::string>();
}

// The method's paper preset for the benchmark (an Error naming those it has, if none).
const nlohmann::json& paper_preset(const MethodEntry& method, const BenchmarkEntry& bench) {
  if (!method.paper.contains(bench.name)) {
    std::vector<std::string> have;
    for (const auto& [name, settings] : method.paper.items()) have.push_back(name);
    throw Error("bad value \"paper\" for key 'preset': method '" + method.name +
                "' has no official settings for benchmark '" + bench.name + "'" +
                (have.empty() ? std::string(" (it has none)") : "; it has them for " + join(have)));
  }
  return method.paper[bench.name];
}

// Layers benchmark and method defaults for common keys over the built-in ones, then the paper
// preset (when the user asks for it) over every key.
std::vector<OptionSpec> layered_specs(const BenchmarkEntry& bench, const MethodEntry& method,
                                      const std::string& preset) {
  auto specs = common_specs();
  for (const auto* defaults : {&bench.defaults, &method.defaults}) {
    for (auto& spec : specs) {
      if (defaults->contains(spec.key))
        spec.default_value = checked_value(spec, (*defaults)[spec.key]);
    }
  }
  specs.insert(specs.end(), bench.keys.begin(), bench.keys.end());
  specs.insert(specs.end(), method.keys.begin(), method.keys.end());
  if (preset == "paper") {
    for (const auto& [key, value] : paper_preset(method, bench).items()) {
      const auto spec = std::find_if(specs.begin(), specs.end(),
                                     [&](const OptionSpec& s) { return s.key == key; });
      if (spec == specs.end()) {
        throw Error("internal: the paper preset of '" + method.name + "' on '" + bench.name +
                    "' sets key '" + key + "', which the run does not have");
      }
      spec->default_value = checked_value(*spec, value);
    }
  }
  return specs;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Domain-IL needs a stream whose tasks share their classes, and a method that does not assume each
// class belongs to one task (class-balanced memories, old classes before the current task's).
void check_domain_il(const BenchmarkEntry& bench, const MethodEntry& method, const Config& cfg) {
  if (cfg.str("scenario") != "domain-il") return;
  if (!bench.domain_incremental) {
    std::vector<std::string> fitting;
    for (const auto& b : benchmarks()) {
      if (b.domain_incremental) fitting.push_back(b.name);
    }
    throw Error("scenario domain-il needs a benchmark whose tasks share their classes (" +
                join(fitting) + "); '" + bench.name +
                "' gives each task classes of its own: use class-il or task-il");
  }
  if (!method.requirements.shared_classes) {
    std::vector<std::string> fitting;
    for (const auto& m : methods()) {
      if (m.requirements.shared_classes) fitting.push_back(m.name);
    }
    throw Error("method '" + method.name +
                "' assumes every class belongs to one task, which domain-il breaks; the methods "
                "that run in domain-il: " +
                join(fitting));
  }
}

// The method's requirements against the resolved config.
void check_requirements(const MethodEntry& method, const Config& cfg) {
  const auto& r = method.requirements;
  const std::string backbone = cfg.str("backbone");
  const std::string kind = find_backbone(backbone).kind;
  if (!r.backbone_kinds.empty() && !contains(r.backbone_kinds, kind)) {
    std::vector<std::string> fitting;
    for (const auto& b : backbones()) {
      if (contains(r.backbone_kinds, b.kind)) fitting.push_back(b.name);
    }
    throw Error("method '" + method.name + "' needs a " + join(r.backbone_kinds, " or ") +
                " backbone, not '" + backbone + "' (" + kind + "): choose one of " + join(fitting) +
                " with --backbone");
  }
  if (r.pretrained_backbone && cfg.str("pretrained").empty()) {
    throw Error("method '" + method.name +
                "' learns on a frozen backbone, and random backbone weights give chance-level "
                "numbers: give trained weights with --pretrained FILE (clbench pretrain makes "
                "some), or --pretrained none to run on random weights on purpose");
  }
  const std::string scenario = cfg.str("scenario");
  if (!r.scenarios.empty() && !contains(r.scenarios, scenario)) {
    throw Error("method '" + method.name + "' runs only in scenario " + join(r.scenarios, " or ") +
                ", not '" + scenario + "' (--scenario)");
  }
}

// A label names a folder and a Markdown row: letters, digits and . _ - + = , @, at most 100.
void check_label(const std::string& label) {
  const bool allowed =
      !label.empty() && label.size() <= 100 && label != "." && label != ".." &&
      std::all_of(label.begin(), label.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._-+=,@", c) != nullptr;
      });
  if (!allowed) {
    throw Error("bad value '" + label +
                "' for key 'name': a label is 1 to 100 letters, digits and . _ - + = , @ "
                "(and not . or ..)");
  }
}

void check_path_length(const std::string& path) {
  if (path.size() >= 4000) {
    throw Error("the result path " + path.substr(0, 80) + "... is " + std::to_string(path.size()) +
                " characters long; the system allows 4095: choose a shorter --out");
  }
  for (const auto& part : std::filesystem::path(path)) {
    if (part.string().size() > 255) {
      throw Error("the result path " + path + " has a folder name of " +
                  std::to_string(part.string().size()) +
                  " characters; the system allows 255: choose a shorter --out");
    }
  }
}

// file_hash of a weights file, once per file version and process (a suite plans every run first).
std::string weights_hash(const std::string& path) {
  std::string why;
  if (!is_regular_file(path, &why)) throw Error("cannot open pretrained weights " + path + why);
  std::error_code ec;
  const auto version =
      path + "@" + std::to_string(std::filesystem::file_size(path, ec)) + "@" +
      std::to_string(std::filesystem::last_write_time(path, ec).time_since_epoch().count());
  static std::map<std::string, std::string> known;
  const auto it = known.find(version);
  if (it != known.end()) return it->second;
  return known[version] = file_hash(path);
}

}  // namespace

RunPlan plan_run(const nlohmann::json& user, bool read_inputs) {
  RunPlan plan;
  const auto& bench = find_benchmark(user_string(user, "benchmark", "split-fmnist"));
  const auto& method = find_method(user_string(user, "method", "finetune"));
  plan.config =
      Config::resolve(layered_specs(bench, method, user_string(user, "preset", "none")), user,
                      "method '" + method.name + "' on benchmark '" + bench.name + "'");
  plan.benchmark = bench.name;
  plan.method = method.name;
  plan.label = plan.config.str("name").empty() ? method.name : plan.config.str("name");
  plan.config.set("name", plan.label);
  plan.seed = plan.config.integer("seed");
  // The count the run will use, so the result records it and a resume can compare it.
  plan.config.set("threads", static_cast<int64_t>(resolve_threads(plan.config.integer("threads"))));
  check_label(plan.label);
  if (method.check) method.check(plan.config);
  check_requirements(method, plan.config);
  check_domain_il(bench, method, plan.config);
  if (plan.config.str("pretrained") == "none")
    plan.config.set("pretrained", "");  // said on purpose
  plan.result_path = (std::filesystem::path(plan.config.str("out")) / plan.benchmark / plan.label /
                      ("seed-" + std::to_string(plan.seed) + ".h5"))
                         .string();
  check_path_length(plan.result_path);
  // The weights count by their content (results/fingerprint.h), not by where they are.
  const std::string pretrained = plan.config.str("pretrained");
  if (read_inputs && plan.config.str("device") == "cuda" && !cuda_available()) {
    throw Error("bad value 'cuda' for key 'device': no CUDA device is visible to this process" +
                cuda_absence_note());
  }
  plan.config.set("pretrained_content", pretrained.empty() ? ""
                                        : read_inputs      ? weights_hash(pretrained)
                                                           : "(not read)");
  return plan;
}

std::string checkpoint_path(const RunPlan& plan) {
  return std::filesystem::path(plan.result_path).replace_extension(".ckpt").string();
}

}  // namespace clbench
