#pragma once
// What identifies a result: every key of its resolved configuration that can change its numbers.
// Paths and speed settings are left out (out, name, data_root, cache, pretrained, loader_threads,
// device): the same run from another folder or on a GPU is the same experiment. The CPU thread
// count is in: reductions split their work by thread, so it decides the bits. The pretrained
// weights count by their content ("pretrained_content", the hash of the weights file:
// harness/run/plan.h), and so does the data ("data_content", the digest of the task stream that
// execute() adds once the data is read: datasets/task_stream.h). The fingerprint names the
// setting, the seed left out: the leaderboard averages the seeds of one fingerprint.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace clbench {

bool affects_results(const std::string& key);

// 16 hex digits: FNV-1a of the canonical JSON of the keys that affect results, the seed excepted.
std::string result_fingerprint(const nlohmann::json& config);

// A key whose values differ between two configurations, each value as JSON text ("(absent)").
struct KeyDifference {
  std::string key, a, b;
};
// Every key, in name order, that `keep` accepts and whose values differ.
std::vector<KeyDifference> differing_keys(const nlohmann::json& a, const nlohmann::json& b,
                                          const std::function<bool(const std::string&)>& keep);

// "\n  key: <a_name> A, <b_name> B" for every key that affects results and differs, the seed
// included ("" if none: the two configurations give the same result).
std::string config_differences(const nlohmann::json& a, const nlohmann::json& b,
                               const std::string& a_name, const std::string& b_name);

}  // namespace clbench
