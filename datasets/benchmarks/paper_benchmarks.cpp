// The four paper benchmarks of SD-LoRA (Wu et al., ICLR 2025): CIFAR-100, ImageNet-R, CUB-200 and
// DomainNet, and ImageNet-A as PILOT / SD-LoRA / APER split it, read from their distributed
// layouts, or from the HDF5 cache of `clbench prepare`, and split into tasks as the papers' code
// does. Images go through the PILOT/SD-LoRA transforms (datasets/images/transforms.h):
// RandomResizedCrop(224, scale 0.05-1) + flip for training, Resize(256, bicubic) + CenterCrop(224)
// for testing, [0, 1] input without mean/std.
#include <filesystem>
#include <map>

#include "datasets/benchmarks/paper_benchmarks.h"
#include "datasets/benchmarks/registry.h"
#include "datasets/images/image_cache.h"
#include "datasets/images/image_dataset.h"
#include "datasets/images/unaugmented.h"
#include "datasets/readers/cifar100.h"
#include "datasets/readers/cub200.h"
#include "datasets/readers/domainnet.h"
#include "datasets/readers/imagenet_r.h"
#include "harness/foundation/error.h"
#include "harness/foundation/text.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using list_detail::join;

std::map<std::string, ImageData>& image_data() {
  static std::map<std::string, ImageData> all;
  return all;
}

// The split list named by `key`, or <root>/<fallback> when the key is empty.
std::string list_file(const Config& cfg, const std::string& key, const std::string& root,
                      const std::string& fallback) {
  const std::string v = cfg.str(key);
  return v.empty() ? join(root, fallback) : v;
}

// The splits of list/folder records; data_id is set by the registration (ImageData::data_id).
ImageSplits from_records(SplitRecords r, const std::string& root) {
  ImageSplits s;
  s.num_classes = r.num_classes;
  s.class_names = std::move(r.class_names);
  s.class_names.resize(static_cast<size_t>(s.num_classes));
  s.train = file_images(std::move(r.train), root);
  s.test = file_images(std::move(r.test), root);
  return s;
}

ImageSplits read_imagenet_r(const Config& cfg) {
  const auto root = require_data_root(cfg, "imagenet-r/ with train/ and test/, or the 200 folders");
  const std::string layout = cfg.str("imagenet-r.layout");
  if (layout == "folders") {
    return from_records(read_imagenet_r_folders(root), root);
  }
  ImagenetRYamlOptions o;
  o.strip_prefix = cfg.str("imagenet-r.strip_prefix");
  return from_records(
      read_imagenet_r_coda(list_file(cfg, "imagenet-r.train_list", root, "imagenet-r_train.yaml"),
                           list_file(cfg, "imagenet-r.test_list", root, "imagenet-r_test.yaml"),
                           root, o),
      root);
}

ImageSplits read_imagenet_a(const Config& cfg) {
  const auto root =
      require_data_root(cfg, "imagenet-a/ with train/ and test/, or the folder above");
  const std::string folder = imagenet_a_root(root);
  return from_records(read_imagenet_a_folders(root), folder);
}

ImageSplits read_cub(const Config& cfg) {
  const auto root = require_data_root(cfg, "CUB_200_2011/ or a train/ + test/ tree");
  if (cfg.str("cub200.layout") == "folders") {
    return from_records(read_cub200_folders(root), root);
  }
  return from_records(read_cub200_official(root), join(root, "images"));
}

ImageSplits read_domainnet_cil(const Config& cfg) {
  const auto root = require_data_root(cfg, "the domain folders and split YAMLs");
  DomainNetOptions o;
  o.strip_prefix = cfg.str("domainnet.strip_prefix");
  return from_records(
      read_domainnet_coda(list_file(cfg, "domainnet.train_list", root, "domainnet_train.yaml"),
                          list_file(cfg, "domainnet.test_list", root, "domainnet_test.yaml"), root,
                          o),
      root);
}

ImageSplits read_domainnet_dil(const Config& cfg) {
  const auto root = require_data_root(cfg, "the six domain folders and <domain>_{train,test}.txt");
  return from_records(read_domainnet_domain_incremental(root), root);
}

struct PaperBenchmark {
  std::string name, summary;
  std::function<std::string(const Config&)> data_id;
  std::function<ImageSplits(const Config&)> read;
  int64_t increment;  // classes per task (every task: the papers' splits are even)
  std::vector<OptionSpec> keys;
  nlohmann::json defaults;
  std::string normalize = "none";
};

void add(const PaperBenchmark& b) {
  nlohmann::json defaults = {
      {"backbone", "vit-b16"}, {"epochs", 5},      {"lr", 0.01},
      {"momentum", 0.9},       {"batch_size", 64}, {"increment", b.increment}};
  if (b.defaults.is_object()) defaults.update(b.defaults);
  register_image_data(b.name, {b.data_id, [id = b.data_id, read = b.read](const Config& cfg) {
                                 ImageSplits s = read(cfg);
                                 s.data_id = id(cfg);
                                 return s;
                               }});
  const std::string name = b.name;
  register_benchmark(
      {name, b.summary, image_keys(b.keys, b.normalize), defaults, [=](const Config& cfg) {
         const ImageSplits s = configured_splits(name, cfg);
         const auto transform = configured_transform(cfg);
         const int threads = static_cast<int>(cfg.integer("loader_threads"));
         return configured_stream(name, std::make_shared<ImageDataset>(s.train, transform, threads),
                                  std::make_shared<ImageDataset>(s.test, transform, threads), cfg,
                                  s.num_classes);
       }});
}

std::function<std::string(const Config&)> fixed_id(const std::string& id) {
  return [id](const Config&) { return id; };
}
std::function<std::string(const Config&)> layout_id(const std::string& dataset,
                                                    const std::string& key) {
  return [dataset, key](const Config& cfg) { return dataset + "/" + cfg.str(key); };
}

const std::vector<OptionSpec> kImagenetRKeys = {
    {"imagenet-r.layout",
     "folders",
     "folders: pre-split train/ and test/ (PILOT, SD-LoRA; label = sorted WordNet id); coda: the "
     "200 folders split by CODA-Prompt's YAML lists (labels from the lists)",
     {"folders", "coda"}},
    {"imagenet-r.train_list", "", "coda: train YAML (default <data_root>/imagenet-r_train.yaml)"},
    {"imagenet-r.test_list", "", "coda: test YAML (default <data_root>/imagenet-r_test.yaml)"},
    {"imagenet-r.strip_prefix", "data/imagenet-r/", "coda: prefix removed from the listed paths"}};

const bool registered_paper_benchmarks = [] {
  add({"cifar100-10",
       "CIFAR-100 (binary), 10 tasks x 10 classes; PyCIL order, seed 1993",
       fixed_id("cifar100"),
       read_cifar100_splits,
       10,
       {},
       {{"class_order_seed", 1993}}});
  for (int tasks : {5, 10, 20}) {
    add({"imagenet-r-" + std::to_string(tasks),
         "ImageNet-R, " + std::to_string(tasks) + " tasks x " + std::to_string(200 / tasks) +
             " classes; PyCIL order, seed 1993",
         layout_id("imagenet-r", "imagenet-r.layout"),
         read_imagenet_r,
         200 / tasks,
         kImagenetRKeys,
         {{"class_order_seed", 1993}}});
  }
  // SD-Lora-CL@8bacded:exps/sdlora_ina.json over LAMDA-PILOT@2647455:utils/data.py:238-256
  add({"imagenet-a-10",
       "ImageNet-A (PILOT's pre-split folders), 10 tasks x 20 classes; PyCIL order, seed 1993",
       fixed_id("imagenet-a/folders"),
       read_imagenet_a,
       20,
       {},
       {{"class_order_seed", 1993}}});
  add({"cub200-10",
       "CUB-200-2011, 10 tasks x 20 classes; PyCIL order, seed 1993",
       layout_id("cub200", "cub200.layout"),
       read_cub,
       20,
       {{"cub200.layout",
         "official",
         "official: CUB_200_2011/ lists (train_test_split.txt); folders: pre-split train/ test/",
         {"official", "folders"}}},
       {{"class_order_seed", 1993}}});
  add({"domainnet-cil-5",
       "DomainNet (CODA/InfLoRA lists, 5 domains), 5 tasks x 69 classes; identity order",
       fixed_id("domainnet/coda"),
       read_domainnet_cil,
       69,
       {{"domainnet.train_list", "", "train YAML (default <data_root>/domainnet_train.yaml)"},
        {"domainnet.test_list", "", "test YAML (default <data_root>/domainnet_test.yaml)"},
        {"domainnet.strip_prefix", "", "prefix removed from the listed paths"}},
       {}});
  add({"domainnet-dil-6",
       "DomainNet (official lists), 6 domains as 6 tasks of 345 classes (S-Prompts); ImageNet "
       "mean/std",
       fixed_id("domainnet/official"),
       read_domainnet_dil,
       345,
       {},
       {},
       "imagenet"});
  return true;
}();

}  // namespace

std::string require_data_root(const Config& cfg, const std::string& expected) {
  const std::string benchmark = cfg.str("benchmark"), root = cfg.str("data_root");
  if (root.empty()) {
    throw Error(benchmark + " needs its data: pass --data-root DIR (" + expected +
                "), or --cache FILE.h5 made by 'clbench prepare " + benchmark +
                "'. See the README's section on the paper benchmarks");
  }
  std::error_code ec;  // a path too long to check is not a folder either, not an exception
  if (!fs::is_directory(root, ec)) throw Error("data root " + root + " is not a folder");
  return root;
}

std::vector<OptionSpec> image_keys(std::vector<OptionSpec> own, const std::string& normalize) {
  std::vector<OptionSpec> keys = {
      {"cache", "", "HDF5 image cache made by 'clbench prepare' (read instead of data_root)"},
      {"image_size", 224, "side of the transformed images (the backbone's input)", {}, {1, 4096}},
      {"crop_scale_min",
       0.05,
       "RandomResizedCrop's smallest area fraction (torchvision: 0.08)",
       {},
       {1e-6, 1}},
      {"test_resize",
       256,
       "test: Resize(test_resize) + CenterCrop(image_size); 0: Resize(image_size) only",
       {},
       {0, 8192}},
      {"test_interpolation",
       "bicubic",
       "test resize filter: bicubic (PILOT, SD-LoRA) or bilinear (torchvision's default: CODA, "
       "InfLoRA)",
       {"bicubic", "bilinear"}},
      {"normalize",
       normalize,
       "input normalisation after [0,1] scaling: none, imagenet (mean 0.485/0.456/0.406, std "
       "0.229/0.224/0.225), mammoth-cifar10 (Mammoth's Seq-CIFAR-10: 0.4914/0.4822/0.4465, "
       "0.2470/0.2435/0.2615), mammoth-tinyimg (Seq-TinyImageNet: 0.4802/0.4480/0.3975, "
       "0.2770/0.2691/0.2821)",
       {"none", "imagenet", "mammoth-cifar10", "mammoth-tinyimg"}}};
  keys.insert(keys.end(), own.begin(), own.end());
  return keys;
}

void set_key_default(std::vector<OptionSpec>& keys, const std::string& key, nlohmann::json value) {
  for (auto& k : keys) {
    if (k.key == key) {
      k.default_value = checked_value(k, value);
      return;
    }
  }
  throw Error("set_key_default: no key '" + key + "'");
}

std::vector<OptionSpec> padded_crop_keys(int64_t padding) {
  return {{"train_crop",
           "padded",
           "training crop: padded = RandomCrop(image_size, padding=crop_padding) (Mammoth); "
           "resized = RandomResizedCrop(image_size, crop_scale_min)",
           {"padded", "resized"}},
          {"crop_padding", padding, "padded: black pixels added on every side", {}, {0, 4096}}};
}

OptionSpec augment_key(const std::string& default_value) {
  return {"augment",
          default_value,
          "training images: crop-flip = RandomResizedCrop(image_size, crop_scale_min) + "
          "horizontal flip; none = the test view (test_resize, image_size), as CLR and GEM train",
          {"crop-flip", "none"}};
}

std::shared_ptr<const Dataset> configured_images(std::shared_ptr<const ImageSource> source,
                                                 const Config& cfg) {
  const int threads = static_cast<int>(cfg.integer("loader_threads"));
  std::shared_ptr<const Dataset> images =
      std::make_shared<ImageDataset>(std::move(source), configured_transform(cfg), threads);
  if (cfg.has("augment") && cfg.str("augment") == "none") return without_augmentation(images);
  return images;
}

namespace {

// The splits of a CIFAR binary dataset: its records as images, named "train/<i>", "test/<i>".
ImageSplits cifar_splits(CifarSplit train, CifarSplit test, std::vector<std::string> names) {
  ImageSplits s;
  s.num_classes = static_cast<int64_t>(names.size());
  s.class_names = std::move(names);
  s.train = cifar_images(std::move(train), "train");
  s.test = cifar_images(std::move(test), "test");
  return s;
}

}  // namespace

ImageSplits read_cifar10_splits(const Config& cfg) {
  const auto root =
      require_data_root(cfg, "cifar-10-batches-bin/ with data_batch_1.bin .. test_batch.bin");
  Cifar10 c = read_cifar10(root);
  return cifar_splits(std::move(c.train), std::move(c.test), std::move(c.label_names));
}

ImageSplits read_cifar100_splits(const Config& cfg) {
  const auto root = require_data_root(cfg, "cifar-100-binary/ with train.bin, test.bin");
  Cifar100 c = read_cifar100(root);
  return cifar_splits(std::move(c.train), std::move(c.test), std::move(c.fine_label_names));
}

void register_image_data(const std::string& benchmark, ImageData data) {
  image_data()[benchmark] = std::move(data);
}

const ImageData& find_image_data(const std::string& benchmark) {
  const auto& all = image_data();
  const auto it = all.find(benchmark);
  if (it != all.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& [name, data] : all) names.push_back(name);
  throw Error("benchmark '" + benchmark +
              "' has no image files to cache; these do: " + join(names));
}

TransformOptions configured_transform(const Config& cfg) {
  TransformOptions t;
  t.size = cfg.integer("image_size");
  t.scale_min = cfg.num("crop_scale_min");
  t.resize = cfg.integer("test_resize");
  const std::string normalize = cfg.str("normalize");
  if (normalize == "imagenet") {
    t.mean = {0.485f, 0.456f, 0.406f};
    t.std = {0.229f, 0.224f, 0.225f};
  } else if (normalize == "mammoth-cifar10") {  // mammoth@7ab9db9:datasets/seq_cifar10.py
    t.mean = {0.4914f, 0.4822f, 0.4465f};
    t.std = {0.2470f, 0.2435f, 0.2615f};
  } else if (normalize == "mammoth-tinyimg") {  // mammoth@7ab9db9:datasets/seq_tinyimagenet.py
    t.mean = {0.4802f, 0.4480f, 0.3975f};
    t.std = {0.2770f, 0.2691f, 0.2821f};
  }
  if (cfg.has("train_crop") && cfg.str("train_crop") == "padded") {
    t.train_crop = TrainCrop::kPadded;
    t.padding = cfg.integer("crop_padding");
  }
  if (cfg.str("test_interpolation") == "bilinear") t.test_filter = Resample::kBilinear;
  validate_transform_options(t);
  return t;
}

ImageSplits configured_splits(const std::string& benchmark, const Config& cfg) {
  const ImageData& data = find_image_data(benchmark);
  const std::string cache_path = cfg.str("cache");
  if (cache_path.empty()) return data.read(cfg);
  const ImageCache cache(cache_path);
  const std::string want = data.data_id(cfg);
  if (cache.dataset() != want) {
    throw Error(cache_path + " caches '" + cache.dataset() + "' but " + benchmark +
                " with this config reads '" + want + "'; run clbench prepare " + benchmark +
                " with the same keys");
  }
  ImageSplits s;
  s.data_id = cache.dataset();
  s.num_classes = cache.num_classes();
  s.class_names = cache.class_names();
  s.train = cache.split("train");
  s.test = cache.split("test");
  return s;
}

}  // namespace clbench
