#include "harness/run/rank_agreement.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "harness/distributed/communicator.h"
#include "harness/foundation/error.h"
#include "results/fingerprint.h"

namespace clbench {
namespace {

// Paths and local speed settings: a node may keep its own copies (the same data, by the digest).
bool may_differ_per_rank(const std::string& key) {
  for (const char* k : {"out", "data_root", "cache", "pretrained", "loader_threads"}) {
    if (key == k) return true;
  }
  return false;
}

nlohmann::json describe(const Config& config, const std::vector<TaskDigest>& data) {
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& [key, value] : config.values().items()) {
    if (!may_differ_per_rank(key)) settings[key] = value;
  }
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& t : data) {
    tasks.push_back(
        {{"train", t.train}, {"test", t.test}, {"classes", t.classes}, {"samples", t.samples}});
  }
  return {{"config", settings}, {"data", tasks}};
}

std::vector<TaskDigest> tasks_of(const nlohmann::json& tasks) {
  std::vector<TaskDigest> data;
  for (const auto& t : tasks) {
    data.push_back({t["train"].get<int64_t>(), t["test"].get<int64_t>(),
                    t["classes"].get<std::vector<int64_t>>(), t["samples"].get<std::string>()});
  }
  return data;
}

// This rank's first difference from rank 0 ("" if none).
std::string first_difference(const nlohmann::json& root, const nlohmann::json& mine, int rank) {
  const std::string here = "rank " + std::to_string(rank);
  const auto differences =
      differing_keys(root["config"], mine["config"], [](const std::string&) { return true; });
  if (!differences.empty()) {
    // What names the run (another method has other keys) before the rest, which is in name order;
    // the later of these keys wins.
    auto first = differences.begin();
    for (const char* key : {"seed", "backbone", "scenario", "method", "benchmark"}) {
      const auto it = std::find_if(differences.begin(), differences.end(),
                                   [&](const KeyDifference& d) { return d.key == key; });
      if (it != differences.end()) first = it;
    }
    return first->key + " is " + first->a + " on rank 0 and " + first->b + " on " + here;
  }
  const std::string data =
      first_data_difference(tasks_of(root["data"]), tasks_of(mine["data"]), "rank 0", here);
  return data.empty() ? "" : "the data differs: " + data;
}

}  // namespace

void require_ranks_agree(Communicator& comm, const Config& config,
                         const std::vector<TaskDigest>& data) {
  if (comm.size() == 1) return;
  const nlohmann::json mine = describe(config, data);
  const auto root = nlohmann::json::parse(comm.broadcast_bytes(mine.dump(), 0));
  const std::string difference = first_difference(root, mine, comm.rank());
  const int first = comm.first_rank_with(!difference.empty());
  if (first < 0) return;
  throw Error("rank " + std::to_string(first) +
              " would not run what rank 0 runs: " + comm.broadcast_bytes(difference, first) +
              "\n(start every rank with the same settings; a node's own copy of the data or the "
              "weights must hold the same files)");
}

}  // namespace clbench
