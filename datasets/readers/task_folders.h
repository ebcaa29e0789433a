#pragma once
// A sequence of datasets, one task each (the protocol of CLR, Ge et al. ICCV 2023, and SKILL,
// Ge et al. 2023: github.com/gyhandy/Channel-wise-Lightweight-Reprogramming):
// <root>/<task>/{train,test}/<class>/<image files>. The task order is given by a list file (default
// <root>/tasks.txt) or else is the sorted task folder names; a task's classes are the sorted class
// folders of its train/ (test/ must have the same ones), its images those torchvision's ImageFolder
// would take (list_detail::class_images). Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/readers/image_list.h"

namespace clbench {

inline constexpr const char* kTaskListFile = "tasks.txt";  // in the data root

struct FolderTask {
  std::string name;                  // the task folder's name
  std::vector<std::string> classes;  // its class folders, sorted
  int64_t class_begin = 0;           // label of its first class in the sequence
};

struct TaskFolders {
  std::vector<FolderTask> tasks;  // in task order
  // Every task's images; label = class_begin of its task + the class's index in the task;
  // class_names[label] = "<task>/<class>" (what the image cache stores: task_folder_tasks reads
  // the tasks back from it).
  SplitRecords records;
};

// The task names a list file gives: one task folder name per line, in order; blank lines and lines
// starting with '#' are skipped, spaces around a name removed. A name with '/', "." or "..", a name
// listed twice or a list without names throws clbench::Error naming the file (and line).
std::vector<std::string> read_task_list(const std::string& path);

// The task folder names in order: those of the list file `task_list` ("": <root>/tasks.txt if it
// exists, else the sorted sub-folders of `root`; a hidden one is an error). A listed task that is
// not a folder, a missing root or a root without task folders throws clbench::Error naming it.
std::vector<std::string> task_folder_order(const std::string& root, const std::string& task_list);

// Reads every task of `root` in task_folder_order. Errors name the folder: a task without train/
// or test/, a class folder in one split but not the other, an empty class folder.
TaskFolders read_task_folders(const std::string& root, const std::string& task_list = "");

// The tasks of class names "<task>/<class>" (read_task_folders' class_names, as a cache stores
// them): consecutive names of one task form it. A name without '/', or a task whose classes are not
// consecutive, throws clbench::Error naming `source` and the name.
std::vector<FolderTask> task_folder_tasks(const std::vector<std::string>& class_names,
                                          const std::string& source);

}  // namespace clbench
