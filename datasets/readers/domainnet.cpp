#include "datasets/readers/domainnet.h"

#include <algorithm>
#include <filesystem>

#include "datasets/readers/imagenet_r.h"
#include "harness/foundation/error.h"

namespace clbench {
namespace {

using list_detail::at;

// Shared by all lists of one dataset: label <-> class folder, no repeated path.
struct State {
  list_detail::LabelFolders folders{kDomainNetClasses};
  list_detail::UniquePaths paths;
};

void check_domain_name(const std::string& domain, const std::string& where) {
  const auto& all = domainnet_domains();
  if (std::find(all.begin(), all.end(), domain) == all.end()) {
    throw Error(where + "unknown DomainNet domain '" + domain +
                "' (expected clipart, infograph, painting, quickdraw, real or sketch)");
  }
}

// A list path must be <domain>/<class>/<file> below the data root.
void check_domain_path(const std::string& rel, const std::string& domain,
                       const std::string& where) {
  list_detail::check_relative_path(rel, 3, where);
  if (std::filesystem::path(rel).begin()->string() != domain)
    throw Error(where + "path '" + rel + "' is not in the domain folder '" + domain + "/'");
}

// Validates one entry, records it in `state` and returns its sample (label + offset).
ImageRecord entry(const std::string& rel, const std::string& domain, int64_t label, int64_t offset,
                  const std::string& root, const std::string& file, size_t line,
                  const std::string& where, bool check_files, State* state) {
  check_domain_path(rel, domain, where);
  state->folders.bind(list_detail::parent_folder(rel), label, where);
  state->paths.add(rel, file, line, where);
  ImageRecord rec{list_detail::join(root, rel), label + offset};
  if (check_files) list_detail::check_file_exists(rec.path, where);
  return rec;
}

// check_counts: every label 0..344 occurs in the list `path`.
void check_all_labels(const std::vector<ImageRecord>& records, int64_t offset,
                      const std::string& path) {
  std::vector<bool> seen(kDomainNetClasses, false);
  for (const auto& r : records) seen[static_cast<size_t>(r.label - offset)] = true;
  const auto missing = std::find(seen.begin(), seen.end(), false);
  if (missing != seen.end()) {
    throw Error(path + ": label " + std::to_string(missing - seen.begin()) + " never occurs");
  }
}

// One official list "<domain>/<class>/<file> <label>" (ai.bu.edu/M3SDA <domain>_{train,test}.txt).
std::vector<ImageRecord> official_list(const std::string& path, const std::string& root,
                                       const std::string& domain, int64_t offset,
                                       const DomainNetOptions& opt, State* state) {
  const auto lines = list_detail::read_lines(path);
  std::vector<ImageRecord> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto fields = list_detail::split_fields(lines[i]);
    if (fields.empty()) continue;
    const std::string where = at(path, i + 1);
    if (fields.size() != 2) {
      throw Error(where + "expected '<path> <label>', found " + std::to_string(fields.size()) +
                  " fields");
    }
    const int64_t label =
        list_detail::parse_int_in(fields[1], 0, kDomainNetClasses - 1, where, "label");
    out.push_back(
        entry(fields[0], domain, label, offset, root, path, i + 1, where, opt.check_files, state));
  }
  if (out.empty()) throw Error(path + ": no entries");
  if (opt.check_counts) check_all_labels(out, offset, path);
  return out;
}

// Reads <root>/<domain>_{train,test}.txt into `s` with labels shifted by `offset`.
void append_domain(const std::string& root, const std::string& domain, int64_t offset,
                   const DomainNetOptions& opt, State* state, SplitRecords* s) {
  check_domain_name(domain, root + ": ");
  for (const bool train : {true, false}) {
    const std::string path = list_detail::join(root, domain + (train ? "_train.txt" : "_test.txt"));
    auto records = official_list(path, root, domain, offset, opt, state);
    auto& dst = train ? s->train : s->test;
    dst.insert(dst.end(), records.begin(), records.end());
  }
}

// One CODA/InfLoRA yaml list: data[i] under domains[i], label targets[i].
std::vector<ImageRecord> coda_list(const std::string& path, const std::string& root,
                                   const DomainNetOptions& opt, State* state) {
  const YamlLists lists = read_split_yaml(path, {"data", "domains", "targets"});
  const auto& data = lists.at("data");
  const auto& domains = lists.at("domains");
  const auto& targets = lists.at("targets");
  std::vector<ImageRecord> out;
  out.reserve(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const std::string index = "[" + std::to_string(i) + "]: ";
    const std::string where = at(path, data[i].line) + "data" + index;
    check_domain_name(domains[i].value, at(path, domains[i].line) + "domains" + index);
    const std::string& p = data[i].value;
    if (p.compare(0, opt.strip_prefix.size(), opt.strip_prefix) != 0)
      throw Error(where + "path '" + p + "' does not start with '" + opt.strip_prefix + "'");
    const int64_t label =
        list_detail::parse_int_in(targets[i].value, 0, kDomainNetClasses - 1,
                                  at(path, targets[i].line) + "targets" + index, "label");
    out.push_back(entry(p.substr(opt.strip_prefix.size()), domains[i].value, label, 0, root, path,
                        data[i].line, where, opt.check_files, state));
  }
  return out;
}

}  // namespace

const std::vector<std::string>& domainnet_domains() {
  static const std::vector<std::string> kDomains = {"clipart",   "infograph", "painting",
                                                    "quickdraw", "real",      "sketch"};
  return kDomains;
}

SplitRecords read_domainnet_domain(const std::string& root, const std::string& domain,
                                   const DomainNetOptions& options) {
  State state;
  SplitRecords s;
  append_domain(root, domain, 0, options, &state, &s);
  s.num_classes = kDomainNetClasses;
  s.class_names = state.folders.names();
  return s;
}

SplitRecords read_domainnet_domain_incremental(const std::string& root,
                                               const DomainNetOptions& options) {
  State state;
  SplitRecords s;
  const auto& domains = domainnet_domains();
  for (size_t d = 0; d < domains.size(); ++d)
    append_domain(root, domains[d], kDomainNetClasses * static_cast<int64_t>(d), options, &state,
                  &s);
  s.num_classes = kDomainNetClasses * static_cast<int64_t>(domains.size());
  for (const auto& domain : domains) {
    for (const auto& name : state.folders.names())
      s.class_names.push_back(name.empty() ? "" : domain + "/" + name);
  }
  return s;
}

SplitRecords read_domainnet_coda(const std::string& train_yaml, const std::string& test_yaml,
                                 const std::string& data_root, const DomainNetOptions& options) {
  State state;
  SplitRecords s;
  s.train = coda_list(train_yaml, data_root, options, &state);
  s.test = coda_list(test_yaml, data_root, options, &state);
  s.num_classes = kDomainNetClasses;
  s.class_names = state.folders.names();
  if (options.check_counts && (static_cast<int64_t>(s.train.size()) != kDomainNetCodaTrain ||
                               static_cast<int64_t>(s.test.size()) != kDomainNetCodaTest ||
                               state.folders.used() != kDomainNetClasses)) {
    throw Error(train_yaml + ", " + test_yaml + ": " + std::to_string(s.train.size()) + " / " +
                std::to_string(s.test.size()) + " entries over " +
                std::to_string(state.folders.used()) + " labels; expected 338804 / 84702 over 345");
  }
  return s;
}

}  // namespace clbench
