#include "results/show.h"

#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

namespace clbench {
namespace {

std::string fixed(double x, int digits = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

// Rows: after training task i; columns: accuracy on task j (blank before it was trained).
void matrix(std::ostringstream& out, const std::string& title, const Matrix& m) {
  out << "\n" << title << " (row: after task i, column: accuracy on task j, %)\n\n| after |";
  for (size_t j = 0; j < m.size(); ++j) out << " task " << j + 1 << " |";
  out << "\n|---|";
  for (size_t j = 0; j < m.size(); ++j) out << "---|";
  out << "\n";
  for (size_t i = 0; i < m.size(); ++i) {
    out << "| task " << i + 1 << " |";
    for (size_t j = 0; j < m[i].size(); ++j) out << " " << (j <= i ? fixed(m[i][j]) : "") << " |";
    out << "\n";
  }
}

void metrics(std::ostringstream& out, const std::string& name, const Metrics& m) {
  out << "| " << name << " | " << fixed(m.final_acc) << " | " << fixed(m.final_acc_weighted)
      << " | " << fixed(m.aaa) << " | " << fixed(m.forgetting) << " | " << fixed(m.bwt) << " | "
      << fixed(m.fwt) << " |\n";
}

template <class T>
std::string at(const std::vector<T>& v, size_t i) {
  if (i >= v.size()) return "—";
  if constexpr (std::is_floating_point_v<T>) return fixed(static_cast<double>(v[i]), 1);
  return std::to_string(v[i]);
}

}  // namespace

std::string show_result(const RunResult& r) {
  std::ostringstream out;
  out << r.method << " on " << r.benchmark << " (" << r.scenario << "), label " << r.label
      << ", seed " << r.seed << ": " << r.status << "\n"
      << "fingerprint " << r.fingerprint << ", clbench " << r.clbench_version << ", "
      << r.world_size << (r.world_size == 1 ? " rank" : " ranks") << ", CPU kernels "
      << r.cpu_kernels << " on " << r.cpu << " (" << r.cpu_blas << ")\n"
      << "\n| scenario | final acc | weighted | AAA | forgetting | BWT | FWT |\n"
      << "|---|---|---|---|---|---|---|\n";
  metrics(out, "class-IL", r.class_il);
  metrics(out, "task-IL", r.task_il);
  matrix(out, "Class-IL accuracy", r.acc_class_il);
  matrix(out, "Task-IL accuracy", r.acc_task_il);
  for (const auto& p : r.other_predictions)
    matrix(out, "Class-IL accuracy of " + p.name, p.class_il);
  out << "\n| task | classes | train | test | seconds | trainable params | stored params | "
         "memory samples |\n|---|---|---|---|---|---|---|---|\n";
  for (size_t t = 0; t < r.acc_class_il.size(); ++t) {
    std::string classes;
    if (t < r.task_classes.size()) {
      for (const auto c : r.task_classes[t])
        classes += (classes.empty() ? "" : " ") + std::to_string(c);
    }
    out << "| " << t + 1 << " | " << classes << " | " << at(r.train_counts, t) << " | "
        << at(r.test_counts, t) << " | " << at(r.task_seconds, t) << " | "
        << at(r.trainable_params, t) << " | " << at(r.stored_params, t) << " | "
        << at(r.memory_samples, t) << " |\n";
  }
  out << "\nSettings:\n";
  const auto config = r.config_json.empty() ? nlohmann::json::object()
                                            : nlohmann::json::parse(r.config_json, nullptr, false);
  if (config.is_object()) {
    for (const auto& [key, value] : config.items())
      out << "  " << key << " = " << value.dump() << "\n";
  } else {
    out << "  " << r.config_json << "\n";
  }
  return out.str();
}

}  // namespace clbench
