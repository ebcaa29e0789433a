#include "datasets/readers/task_folders.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using list_detail::at;

bool is_folder(const fs::path& p) {
  std::error_code ec;  // a path the check fails on is not a usable folder either
  return fs::is_directory(p, ec);
}

struct ListedTask {
  std::string name;
  size_t line;  // 1-based
};

std::vector<ListedTask> listed_tasks(const std::string& path) {
  const auto lines = list_detail::read_lines(path);
  std::vector<ListedTask> tasks;
  std::map<std::string, size_t> first_line;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const size_t begin = line.find_first_not_of(" \t");
    if (begin == std::string::npos || line[begin] == '#') continue;
    const std::string name = line.substr(begin, line.find_last_not_of(" \t") + 1 - begin);
    const std::string where = at(path, i + 1);
    if (name.find('/') != std::string::npos || name == "." || name == "..") {
      throw Error(where + "'" + name +
                  "' is not a folder name (a task is a folder in the data root)");
    }
    const auto [it, fresh] = first_line.emplace(name, i + 1);
    if (!fresh) {
      throw Error(where + "task '" + name + "' is already listed at line " +
                  std::to_string(it->second));
    }
    tasks.push_back({name, i + 1});
  }
  if (tasks.empty()) throw Error(path + ": lists no tasks (one task folder name per line)");
  return tasks;
}

// The sorted sub-folders of `root`, every one a task.
std::vector<std::string> sorted_task_folders(const std::string& root) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!is_folder(e.path())) continue;
    const std::string name = e.path().filename().string();
    if (name[0] == '.') {
      throw Error(root + ": hidden folder '" + name + "' would be a task; remove it or name the " +
                  "tasks in " + kTaskListFile);
    }
    names.push_back(name);
  }
  if (ec) throw Error("cannot list the data root " + root + ": " + ec.message());
  if (names.empty()) {
    throw Error(root + ": no task folders (expected <task>/train/<class>/<images> and " +
                "<task>/test/<class>/<images>)");
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::vector<std::string> read_task_list(const std::string& path) {
  std::vector<std::string> names;
  for (auto& t : listed_tasks(path)) names.push_back(std::move(t.name));
  return names;
}

std::vector<std::string> task_folder_order(const std::string& root, const std::string& task_list) {
  if (!is_folder(root)) throw Error("data root " + root + " is not a folder");
  std::string list = task_list;
  std::string why;
  if (list.empty() && is_regular_file(list_detail::join(root, kTaskListFile), &why)) {
    list = list_detail::join(root, kTaskListFile);
  }
  if (list.empty()) return sorted_task_folders(root);
  std::vector<std::string> names;
  for (auto& t : listed_tasks(list)) {
    const std::string folder = list_detail::join(root, t.name);
    if (!is_folder(folder)) {
      throw Error(at(list, t.line) + "task '" + t.name + "': " + folder + " is not a folder");
    }
    names.push_back(std::move(t.name));
  }
  return names;
}

TaskFolders read_task_folders(const std::string& root, const std::string& task_list) {
  TaskFolders out;
  for (const auto& name : task_folder_order(root, task_list)) {
    SplitRecords r = list_detail::read_split_folders(list_detail::join(root, name), 0);
    FolderTask task;
    task.name = name;
    task.classes = r.class_names;
    task.class_begin = out.records.num_classes;
    for (auto* split : {&r.train, &r.test}) {
      auto& into = split == &r.train ? out.records.train : out.records.test;
      for (auto& record : *split)
        into.push_back({std::move(record.path), task.class_begin + record.label});
    }
    for (const auto& c : task.classes) out.records.class_names.push_back(name + "/" + c);
    out.records.num_classes += r.num_classes;
    out.tasks.push_back(std::move(task));
  }
  return out;
}

std::vector<FolderTask> task_folder_tasks(const std::vector<std::string>& class_names,
                                          const std::string& source) {
  std::vector<FolderTask> tasks;
  for (size_t label = 0; label < class_names.size(); ++label) {
    const std::string& full = class_names[label];
    const size_t slash = full.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == full.size()) {
      throw Error(source + ": class " + std::to_string(label) + " is named '" + full +
                  "', not <task>/<class>; make the cache with 'clbench prepare folder-sequence'");
    }
    const std::string task = full.substr(0, slash);
    if (tasks.empty() || tasks.back().name != task) {
      for (const auto& t : tasks) {
        if (t.name == task) {
          throw Error(source + ": the classes of task '" + task + "' are not consecutive (class " +
                      std::to_string(label) + " '" + full + "')");
        }
      }
      tasks.push_back({task, {}, static_cast<int64_t>(label)});
    }
    tasks.back().classes.push_back(full.substr(slash + 1));
  }
  if (tasks.empty()) throw Error(source + ": no classes");
  return tasks;
}

}  // namespace clbench
