#include "datasets/readers/imagenet_r.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <utility>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

using list_detail::at;

// The whole file as text; gzip is decompressed (gzread passes plain files through).
std::string read_text(const std::string& path) {
  std::string why;
  if (!is_regular_file(path, &why)) throw Error("missing list file: " + path + why);
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw Error("cannot open " + path);
  std::string out;
  char chunk[1 << 16];
  int n;
  while ((n = gzread(f, chunk, sizeof chunk)) > 0) out.append(chunk, static_cast<size_t>(n));
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  const std::string what = msg ? msg : "";
  gzclose(f);
  if (n < 0 || (err != Z_OK && err != Z_STREAM_END))
    throw Error(path + ": corrupt gzip stream (" + what + ")");
  return out;
}

// Streams yaml-cpp parser events into the lists of a split YAML (no node tree: the DomainNet
// lists have 10^6 entries). Depth 0: outside, 1: top-level mapping, 2: a key's value.
class SplitYamlHandler : public YAML::EventHandler {
 public:
  SplitYamlHandler(const std::string& path, const std::vector<std::string>& keys)
      : path_(path), wanted_(keys.begin(), keys.end()) {}

  YamlLists lists;
  std::map<std::string, size_t> key_lines;

  void OnDocumentStart(const YAML::Mark& m) override {
    if (++documents_ > 1) fail(m, "more than one YAML document");
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { value(m, nullptr); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { fail(m, "aliases not supported"); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string& v) override {
    value(m, &v);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    open(m, true);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    open(m, false);
  }
  void OnMapEnd() override { close(); }

 private:
  [[noreturn]] void fail(const YAML::Mark& m, const std::string& what) const {
    throw Error(at(path_, static_cast<size_t>(m.line + 1)) + what);
  }
  bool wanted() const { return wanted_.count(key_) > 0; }

  void open(const YAML::Mark& m, bool sequence) {
    if (depth_ == 0 && sequence) fail(m, "the top level must be a mapping of lists");
    if (depth_ == 1) {
      if (!have_key_) fail(m, "a mapping key must be a scalar");
      if (wanted() && !sequence) fail(m, "'" + key_ + "' must be a list");
      list_ = wanted() ? &lists[key_] : nullptr;
    } else if (depth_ == 2 && list_ != nullptr) {
      fail(m,
           "'" + key_ + "[" + std::to_string(list_->size()) + "]' is a collection, not a scalar");
    }
    ++depth_;
  }
  void close() {
    if (--depth_ == 1) {
      have_key_ = false;
      list_ = nullptr;
    }
  }
  void value(const YAML::Mark& m, const std::string* v) {
    if (depth_ == 0) fail(m, "the top level must be a mapping of lists");
    if (depth_ == 1 && !have_key_) return set_key(m, v);
    if (depth_ == 1) {  // a scalar value
      if (wanted()) fail(m, "'" + key_ + "' must be a list");
      have_key_ = false;
    } else if (depth_ == 2 && list_ != nullptr) {
      if (v == nullptr) fail(m, key_ + "[" + std::to_string(list_->size()) + "] is empty (null)");
      list_->push_back({*v, static_cast<size_t>(m.line + 1)});
    }
  }
  void set_key(const YAML::Mark& m, const std::string* v) {
    if (v == nullptr) fail(m, "null mapping key");
    key_ = *v;
    have_key_ = true;
    if (!key_lines.emplace(key_, m.line + 1).second) fail(m, "duplicate key '" + key_ + "'");
  }

  std::string path_;
  std::set<std::string> wanted_;
  int documents_ = 0;
  int depth_ = 0;
  bool have_key_ = false;
  std::string key_;
  std::vector<YamlScalar>* list_ = nullptr;
};

// All `keys` present and of one length.
void check_lists(const std::string& path, const std::vector<std::string>& keys,
                 const SplitYamlHandler& h) {
  for (const auto& k : keys) {
    if (h.lists.count(k) == 0) throw Error(path + ": no top-level list '" + k + ":'");
  }
  const auto& first = h.lists.at(keys.front());
  if (first.empty()) throw Error(at(path, h.key_lines.at(keys.front())) + "empty list");
  for (const auto& k : keys) {
    const auto& list = h.lists.at(k);
    if (list.size() != first.size()) {
      throw Error(at(path, h.key_lines.at(k)) + "'" + k + "' has " + std::to_string(list.size()) +
                  " entries but '" + keys.front() + "' has " + std::to_string(first.size()));
    }
  }
}

// Shared state of the train and test lists of one dataset.
struct CodaState {
  list_detail::LabelFolders folders{kImagenetRClasses};
  list_detail::UniquePaths paths;
};

// One ImageNet-R list: data[i] -> <root>/<data[i] minus prefix>, label targets[i].
std::vector<ImageRecord> imagenet_r_list(const std::string& path, const std::string& root,
                                         const ImagenetRYamlOptions& opt, CodaState* state) {
  const YamlLists lists = read_split_yaml(path, {"data", "targets"});
  const auto& data = lists.at("data");
  const auto& targets = lists.at("targets");
  std::vector<ImageRecord> out;
  out.reserve(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const std::string& p = data[i].value;
    const std::string where = at(path, data[i].line) + "data[" + std::to_string(i) + "]: ";
    if (p.compare(0, opt.strip_prefix.size(), opt.strip_prefix) != 0)
      throw Error(where + "path '" + p + "' does not start with '" + opt.strip_prefix + "'");
    const std::string rel = p.substr(opt.strip_prefix.size());
    list_detail::check_relative_path(rel, 2, where);
    const std::string wnid = list_detail::parent_folder(rel);
    if (!is_wnid(wnid)) throw Error(where + "folder '" + wnid + "' is not a WordNet id");
    const std::string twhere = at(path, targets[i].line) + "targets[" + std::to_string(i) + "]: ";
    const int64_t label =
        list_detail::parse_int_in(targets[i].value, 0, kImagenetRClasses - 1, twhere, "label");
    state->folders.bind(wnid, label, where);
    state->paths.add(rel, path, data[i].line, where);
    out.push_back({list_detail::join(root, rel), label});
    if (opt.check_files) list_detail::check_file_exists(out.back().path, where);
  }
  return out;
}

}  // namespace

bool is_wnid(const std::string& s) {
  return s.size() == 9 && s[0] == 'n' &&
         std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

YamlLists read_split_yaml(const std::string& path, const std::vector<std::string>& keys) {
  std::istringstream text(read_text(path));
  SplitYamlHandler handler(path, keys);
  try {
    YAML::Parser parser(text);
    while (parser.HandleNextDocument(handler)) {
    }
  } catch (const YAML::Exception& e) {
    throw Error(at(path, static_cast<size_t>(e.mark.line + 1)) + "YAML error: " + e.msg);
  }
  check_lists(path, keys, handler);
  YamlLists out;
  for (const auto& k : keys) out[k] = std::move(handler.lists[k]);
  return out;
}

SplitRecords read_imagenet_r_coda(const std::string& train_yaml, const std::string& test_yaml,
                                  const std::string& data_root,
                                  const ImagenetRYamlOptions& options) {
  CodaState state;
  SplitRecords s;
  s.train = imagenet_r_list(train_yaml, data_root, options, &state);
  s.test = imagenet_r_list(test_yaml, data_root, options, &state);
  s.num_classes = kImagenetRClasses;
  s.class_names = state.folders.names();
  if (options.check_counts && (static_cast<int64_t>(s.train.size()) != kImagenetRTrain ||
                               static_cast<int64_t>(s.test.size()) != kImagenetRTest ||
                               state.folders.used() != kImagenetRClasses)) {
    throw Error(train_yaml + ", " + test_yaml + ": " + std::to_string(s.train.size()) + " / " +
                std::to_string(s.test.size()) + " entries over " +
                std::to_string(state.folders.used()) + " labels; expected 24000 / 6000 over 200");
  }
  return s;
}

namespace {

// Pre-split <root>/{train,test}/<wnid>/ folders (ImageFolder); expected_classes > 0 checks the
// class count.
SplitRecords wnid_folders(const std::string& root, int64_t expected_classes) {
  SplitRecords s = list_detail::read_split_folders(root, expected_classes);
  for (const auto& wnid : s.class_names) {
    if (!is_wnid(wnid))
      throw Error(root + "/train: class folder '" + wnid + "' is not a WordNet id");
  }
  return s;
}

}  // namespace

SplitRecords read_imagenet_r_folders(const std::string& root, bool check_counts) {
  return wnid_folders(root, check_counts ? kImagenetRClasses : 0);
}

std::string imagenet_a_root(const std::string& data_root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path nested = fs::path(data_root) / "imagenet-a";
  if (!fs::is_directory(fs::path(data_root) / "train", ec) && fs::is_directory(nested, ec))
    return nested.string();
  return data_root;
}

SplitRecords read_imagenet_a_folders(const std::string& data_root) {
  return wnid_folders(imagenet_a_root(data_root), kImagenetAClasses);
}

}  // namespace clbench
