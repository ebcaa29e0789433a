#pragma once
// DomainNet (Peng et al., ai.bu.edu/M3SDA: <domain>/<class>/<domain>_<ccc>_<nnnnnn>.jpg;
// ICCV 2019): the official per-domain lists, the S-Prompts
// domain-incremental stream built on them, and the CODA-Prompt/InfLoRA split YAML.
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/readers/image_list.h"

namespace clbench {

inline constexpr int64_t kDomainNetClasses = 345;
inline constexpr int64_t kDomainNetCodaTrain = 338804;  // CODA/InfLoRA yaml, quickdraw excluded
inline constexpr int64_t kDomainNetCodaTest = 84702;

// clipart, infograph, painting, quickdraw, real, sketch: the S-Prompts domain order.
const std::vector<std::string>& domainnet_domains();

struct DomainNetOptions {
  bool check_files = false;  // every image must exist under the data root
  // Official lists: every one of the 345 labels occurs in each train and test list (per-domain
  // totals are unconfirmed). CODA yaml: 338804 / 84702 entries over 345 labels.
  bool check_counts = false;
  std::string strip_prefix;  // CODA yaml only: removed from every `data:` path
};

// Official <root>/<domain>_train.txt and <root>/<domain>_test.txt, lines
// "clipart/aircraft_carrier/clipart_001_000018.jpg 0" (path relative to root, label 0..344).
// Class-incremental within the domain: 345 labels, class_names[label] = class folder.
SplitRecords read_domainnet_domain(const std::string& root, const std::string& domain,
                                   const DomainNetOptions& options = {});

// S-Prompts utils/data.py::iDomainNet: the six official domains in domainnet_domains() order,
// label = list label + 345 * domain index (2070 labels; class_names "<domain>/<class>").
SplitRecords read_domainnet_domain_incremental(const std::string& root,
                                               const DomainNetOptions& options = {});

// CODA-Prompt dataloaders/splits/domainnet_{train,test}.yaml (InfLoRA utils/data.py::iDomainNet):
// lists data (e.g. painting/strawberry/painting_291_000263.jpg), domains (domain names) and
// targets (0..344, class-incremental). Each class folder keeps one label across domains.
SplitRecords read_domainnet_coda(const std::string& train_yaml, const std::string& test_yaml,
                                 const std::string& data_root,
                                 const DomainNetOptions& options = {});

}  // namespace clbench
