#include "results/fingerprint.h"

#include <nlohmann/json.hpp>

#include "harness/foundation/hash.h"

namespace clbench {
namespace {

// The setting's keys: all that affect results but the seed (a leaderboard entry averages seeds).
nlohmann::json setting_keys(const nlohmann::json& config) {
  nlohmann::json keys = nlohmann::json::object();
  for (const auto& [key, value] : config.items()) {
    if (affects_results(key) && key != "seed") keys[key] = value;
  }
  return keys;
}

}  // namespace

bool affects_results(const std::string& key) {
  // preset only chooses the values of other keys, which count themselves; eval_future only which
  // entries of the accuracy matrix no metric reads are measured.
  for (const char* k : {"out", "name", "data_root", "cache", "pretrained", "loader_threads",
                        "device", "sync_every", "overlap_reduction", "preset", "eval_future"}) {
    if (key == k) return false;
  }
  return true;
}

std::string result_fingerprint(const nlohmann::json& config) {
  const std::string canonical = setting_keys(config).dump();  // keys sorted
  return hex64(fnv1a(canonical.data(), canonical.size()));
}

std::vector<KeyDifference> differing_keys(const nlohmann::json& a, const nlohmann::json& b,
                                          const std::function<bool(const std::string&)>& keep) {
  auto show = [](const nlohmann::json& j, const std::string& key) {
    return j.contains(key) ? j[key].dump() : std::string("(absent)");
  };
  nlohmann::json keys = nlohmann::json::object();  // the union, sorted
  for (const auto& [k, v] : a.items()) keys[k] = true;
  for (const auto& [k, v] : b.items()) keys[k] = true;
  std::vector<KeyDifference> differences;
  for (const auto& [key, unused] : keys.items()) {
    if (!keep(key)) continue;
    if (!a.contains(key) || !b.contains(key) || a[key] != b[key])
      differences.push_back({key, show(a, key), show(b, key)});
  }
  return differences;
}

std::string config_differences(const nlohmann::json& a, const nlohmann::json& b,
                               const std::string& a_name, const std::string& b_name) {
  std::string diff;
  for (const auto& d : differing_keys(a, b, affects_results))
    diff += "\n  " + d.key + ": " + a_name + " " + d.a + ", " + b_name + " " + d.b;
  return diff;
}

}  // namespace clbench
