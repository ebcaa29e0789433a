#pragma once
// Image-list datasets: the readers return (path, label) samples, not pixels. Shared helpers for
// the list readers (cub200, imagenet_r, domainnet) are inline below, in namespace list_detail.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "harness/foundation/error.h"
#include "harness/foundation/files.h"

namespace clbench {

struct ImageRecord {
  std::string path;  // <root>/<relative path from the list or folder walk>
  int64_t label;     // 0-based
};

struct SplitRecords {
  std::vector<ImageRecord> train, test;
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // by label; "" for a label the lists never use
};

namespace list_detail {

namespace fs = std::filesystem;

// "file:line: " prefix of every list-file error (line is 1-based).
inline std::string at(const std::string& file, size_t line) {
  return file + ":" + std::to_string(line) + ": ";
}

// The lines of a text file, '\r' stripped; line i of the file is element i-1.
inline std::vector<std::string> read_lines(const std::string& path) {
  std::string why;
  if (!is_regular_file(path, &why)) throw Error("missing list file: " + path + why);
  std::ifstream in(path);
  if (!in) throw Error("cannot open " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw Error("read error in " + path);
  return lines;
}

// Whitespace-separated fields of one line.
inline std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

// Parses a whole token as a decimal integer (no sign prefix other than '-', no trailing text).
inline bool parse_int64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, *out);
  return r.ec == std::errc() && r.ptr == end;
}

// Parses `token` as an integer in [lo, hi]; otherwise throws "<where>: <what> '<token>' ...".
inline int64_t parse_int_in(const std::string& token, int64_t lo, int64_t hi,
                            const std::string& where, const std::string& what) {
  int64_t v = 0;
  if (!parse_int64(token, &v)) throw Error(where + what + " '" + token + "' is not an integer");
  if (v < lo || v > hi) {
    throw Error(where + what + " " + token + " out of range " + std::to_string(lo) + ".." +
                std::to_string(hi));
  }
  return v;
}

// A list path must stay below the data root: relative, no "..", at least `min_parts` components.
inline void check_relative_path(const std::string& p, size_t min_parts, const std::string& where) {
  const fs::path path(p);
  if (p.empty() || path.is_absolute()) throw Error(where + "path '" + p + "' is not relative");
  size_t parts = 0;
  for (const auto& part : path) {
    if (part == "..") throw Error(where + "path '" + p + "' leaves the data root (..)");
    if (!part.empty() && part != ".") ++parts;
  }
  if (parts < min_parts) {
    throw Error(where + "path '" + p + "' has " + std::to_string(parts) +
                " components, expected at least " + std::to_string(min_parts));
  }
}

inline std::string join(const std::string& root, const std::string& rel) {
  return (fs::path(root) / rel).string();
}

// Throws "<where>image file missing on disk: <path>" unless `path` is a regular file.
inline void check_file_exists(const std::string& path, const std::string& where) {
  std::string why;
  if (!is_regular_file(path, &why))
    throw Error(where + "image file missing on disk: " + path + why);
}

// torchvision IMG_EXTENSIONS, compared case-insensitively like has_file_allowed_extension.
inline bool has_image_extension(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const char* const kExt[] = {".jpg", ".jpeg", ".png",  ".ppm", ".bmp",
                                     ".pgm", ".tif",  ".tiff", ".webp"};
  for (const char* ext : kExt) {
    const std::string e(ext);
    if (lower.size() >= e.size() && lower.compare(lower.size() - e.size(), e.size(), e) == 0)
      return true;
  }
  return false;
}

// Sorted names of the sub-folders of `dir` (torchvision find_classes). A hidden folder (.name)
// would silently become a class there, so it is an error here.
inline std::vector<std::string> class_folders(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw Error("missing image folder: " + dir.string());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory()) continue;
    const std::string name = e.path().filename().string();
    if (name[0] == '.') {
      throw Error(dir.string() + ": hidden folder '" + name +
                  "' would be a class for ImageFolder; remove it");
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) throw Error(dir.string() + ": no class folders");
  return names;
}

// The image files below one class folder in torchvision make_dataset order: sorted(os.walk())
// (folders by path string, following links), files sorted by name within each folder.
inline std::vector<std::string> class_images(const fs::path& class_dir) {
  std::vector<std::pair<std::string, std::string>> files;  // (folder, file name)
  const auto opts = fs::directory_options::follow_directory_symlink;
  for (const auto& e : fs::recursive_directory_iterator(class_dir, opts)) {
    if (e.is_directory()) continue;
    const std::string name = e.path().filename().string();
    if (has_image_extension(name)) files.emplace_back(e.path().parent_path().string(), name);
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error(class_dir.string() + ": class folder holds no image files");
  std::vector<std::string> paths;
  paths.reserve(files.size());
  for (const auto& [folder, name] : files) paths.push_back((fs::path(folder) / name).string());
  return paths;
}

// One ImageFolder split: label = index of the class folder in `classes`.
inline std::vector<ImageRecord> image_folder(const fs::path& dir,
                                             const std::vector<std::string>& classes) {
  std::vector<ImageRecord> out;
  for (size_t label = 0; label < classes.size(); ++label) {
    for (auto& p : class_images(dir / classes[label]))
      out.push_back({std::move(p), static_cast<int64_t>(label)});
  }
  return out;
}

// Pre-split <root>/train/<class>/... and <root>/test/<class>/... (PILOT/InfLoRA/dualprompt
// ImageFolder layout). Both splits must have the same class folders, or labels would disagree.
// `expected_classes` > 0 checks the class count.
inline SplitRecords read_split_folders(const std::string& root, int64_t expected_classes) {
  const fs::path train_dir = fs::path(root) / "train", test_dir = fs::path(root) / "test";
  const auto classes = class_folders(train_dir);
  const auto test_classes = class_folders(test_dir);
  if (classes != test_classes) {
    for (const auto& c : classes)
      if (!std::binary_search(test_classes.begin(), test_classes.end(), c))
        throw Error(root + ": class folder '" + c + "' is in train/ but not in test/");
    for (const auto& c : test_classes)
      if (!std::binary_search(classes.begin(), classes.end(), c))
        throw Error(root + ": class folder '" + c + "' is in test/ but not in train/");
  }
  if (expected_classes > 0 && static_cast<int64_t>(classes.size()) != expected_classes) {
    throw Error(train_dir.string() + ": " + std::to_string(classes.size()) +
                " class folders, expected " + std::to_string(expected_classes));
  }
  SplitRecords s;
  s.train = image_folder(train_dir, classes);
  s.test = image_folder(test_dir, classes);
  s.num_classes = static_cast<int64_t>(classes.size());
  s.class_names = classes;
  return s;
}

// The folder that directly holds a list entry's file: the WordNet id of ImageNet-R, the class
// name of DomainNet.
inline std::string parent_folder(const std::string& rel) {
  return fs::path(rel).parent_path().filename().string();
}

// The class folders of a list-based split: one folder per label and one label per folder, over
// every list of the dataset (the consistency check of the CODA and DomainNet readers).
class LabelFolders {
 public:
  explicit LabelFolders(int64_t num_classes)
      : folder_(static_cast<size_t>(num_classes)), where_(static_cast<size_t>(num_classes)) {}

  // `where` is the "file:line: " of the entry (its error prefix).
  void bind(const std::string& folder, int64_t label, const std::string& where) {
    auto& f = folder_[static_cast<size_t>(label)];
    if (f.empty()) {
      const auto [it, fresh] = label_of_.emplace(folder, label);
      if (!fresh) {
        throw Error(where + "folder '" + folder + "' has label " + std::to_string(label) +
                    " but label " + std::to_string(it->second) + " at " +
                    where_[static_cast<size_t>(it->second)]);
      }
      f = folder;
      where_[static_cast<size_t>(label)] = where.substr(0, where.find_last_not_of(": ") + 1);
    } else if (f != folder) {
      const auto it = label_of_.find(folder);
      const std::string other =
          it == label_of_.end() ? "" : ", which has label " + std::to_string(it->second);
      throw Error(where + "label " + std::to_string(label) + " given to folder '" + folder + "'" +
                  other + "; label " + std::to_string(label) + " is folder '" + f + "' at " +
                  where_[static_cast<size_t>(label)]);
    }
  }
  const std::vector<std::string>& names() const { return folder_; }
  int64_t used() const { return static_cast<int64_t>(label_of_.size()); }

 private:
  std::vector<std::string> folder_, where_;  // by label; where_: first entry, "file:line: "
  std::unordered_map<std::string, int64_t> label_of_;
};

// Rejects a path listed twice, in one list or across train and test.
class UniquePaths {
 public:
  // `path` is listed on `line` of list `file` (error prefix `where`).
  void add(const std::string& path, const std::string& file, size_t line,
           const std::string& where) {
    if (files_.empty() || files_.back() != file) files_.push_back(file);
    const auto [it, fresh] = first_.emplace(path, std::make_pair(files_.size() - 1, line));
    if (!fresh) {
      throw Error(where + "path '" + path + "' already listed at " + files_[it->second.first] +
                  ":" + std::to_string(it->second.second));
    }
  }

 private:
  std::vector<std::string> files_;                                    // the lists seen, in order
  std::unordered_map<std::string, std::pair<size_t, size_t>> first_;  // path -> (file, line)
};

}  // namespace list_detail
}  // namespace clbench
