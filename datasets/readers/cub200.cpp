#include "datasets/readers/cub200.h"

#include <map>
#include <utility>
#include <vector>

#include "harness/foundation/error.h"

namespace clbench {
namespace {

using list_detail::at;

struct Entry {
  std::string value;
  size_t line;  // 1-based
};
using IdMap = std::map<int64_t, Entry>;

// A CUB list file of "<id> <value>" lines (CUB_200_2011/*.txt). Blank lines are skipped; a wrong
// field count, a non-integer or non-positive id and a duplicate id are errors.
IdMap read_id_file(const std::string& path, int64_t max_id = INT64_MAX) {
  const auto lines = list_detail::read_lines(path);
  IdMap out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto fields = list_detail::split_fields(lines[i]);
    if (fields.empty()) continue;
    const std::string where = at(path, i + 1);
    if (fields.size() != 2) {
      throw Error(where + "expected 2 space-separated fields, found " +
                  std::to_string(fields.size()));
    }
    const int64_t id = list_detail::parse_int_in(fields[0], 1, max_id, where, "id");
    const auto [it, fresh] = out.emplace(id, Entry{fields[1], i + 1});
    if (!fresh) {
      throw Error(where + "duplicate id " + fields[0] + " (first on line " +
                  std::to_string(it->second.line) + ")");
    }
  }
  if (out.empty()) throw Error(path + ": no entries");
  return out;
}

// classes.txt: ids 1..N without gaps (N <= 200); returns the names by label.
std::vector<std::string> read_classes(const std::string& path) {
  const IdMap classes = read_id_file(path, kCub200Classes);
  std::vector<std::string> names;
  for (const auto& [id, e] : classes) {
    if (id != static_cast<int64_t>(names.size()) + 1) {
      throw Error(path + ": class ids are not 1..N: id " + std::to_string(names.size() + 1) +
                  " is missing");
    }
    names.push_back(e.value);
  }
  return names;
}

// Every id of `other` must be an image of images.txt.
void check_known_ids(const IdMap& other, const IdMap& images, const std::string& path) {
  for (const auto& [id, e] : other) {
    if (images.count(id) == 0) {
      throw Error(at(path, e.line) + "unknown image id " + std::to_string(id) +
                  " (not in images.txt)");
    }
  }
}

// The entry of image `id` (declared on images.txt line `image_line`) in list `path`.
const Entry& entry_for(const IdMap& list, int64_t id, const std::string& path,
                       const std::string& images_path, size_t image_line) {
  const auto it = list.find(id);
  if (it == list.end()) {
    throw Error(at(images_path, image_line) + "image id " + std::to_string(id) +
                " has no entry in " + path);
  }
  return it->second;
}

}  // namespace

SplitRecords read_cub200_official(const std::string& root, const CubOptions& options) {
  const std::string images_path = list_detail::join(root, "images.txt");
  const std::string labels_path = list_detail::join(root, "image_class_labels.txt");
  const std::string split_path = list_detail::join(root, "train_test_split.txt");
  SplitRecords s;
  s.class_names = read_classes(list_detail::join(root, "classes.txt"));
  s.num_classes = static_cast<int64_t>(s.class_names.size());
  const IdMap images = read_id_file(images_path);
  const IdMap labels = read_id_file(labels_path);
  const IdMap split = read_id_file(split_path);
  check_known_ids(labels, images, labels_path);
  check_known_ids(split, images, split_path);
  for (const auto& [id, image] : images) {
    const std::string where = at(images_path, image.line);
    list_detail::check_relative_path(image.value, 1, where);
    const Entry& l = entry_for(labels, id, labels_path, images_path, image.line);
    const Entry& t = entry_for(split, id, split_path, images_path, image.line);
    const int64_t cls =
        list_detail::parse_int_in(l.value, 1, s.num_classes, at(labels_path, l.line), "class id");
    const int64_t is_train =
        list_detail::parse_int_in(t.value, 0, 1, at(split_path, t.line), "is_training_image");
    ImageRecord rec{list_detail::join(root, "images/" + image.value), cls - 1};
    if (options.check_files) list_detail::check_file_exists(rec.path, where);
    (is_train ? s.train : s.test).push_back(std::move(rec));
  }
  if (options.check_counts) {
    if (s.num_classes != kCub200Classes || static_cast<int64_t>(images.size()) != kCub200Images ||
        static_cast<int64_t>(s.train.size()) != kCub200Train ||
        static_cast<int64_t>(s.test.size()) != kCub200Test) {
      throw Error(root + ": " + std::to_string(s.num_classes) + " classes, " +
                  std::to_string(s.train.size()) + " train / " + std::to_string(s.test.size()) +
                  " test images; expected 200 classes, 5994 / 5794");
    }
  }
  return s;
}

SplitRecords read_cub200_folders(const std::string& root, bool check_counts) {
  return list_detail::read_split_folders(root, check_counts ? kCub200Classes : 0);
}

}  // namespace clbench
