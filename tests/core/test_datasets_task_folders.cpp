// The folder-sequence reader (datasets/readers/task_folders.h) on fixtures in its layout,
// <root>/<task>/{train,test}/<class>/<images>: task order (sorted, tasks.txt, a list key), each
// task's own label range, and every bad layout's error naming the folder or the list line.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "datasets/readers/task_folders.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;
using testing::TempDirTest;

// task -> its class folders; every class gets `train` + `test` JPEGs (8 x 8).
using Layout = std::map<std::string, std::vector<std::string>>;

class TaskFolderTest : public TempDirTest {
 protected:
  void write(const Layout& layout, int train = 2, int test = 1) {
    int seed = 0;
    for (const auto& [task, classes] : layout) {
      for (const auto& c : classes) {
        for (int k = 0; k < train + test; ++k) {
          const std::string split = k < train ? "train" : "test";
          testing::write_jpeg(
              path(task + "/" + split + "/" + c + "/img" + std::to_string(k) + ".jpg"), seed++);
        }
      }
    }
  }
  // The three tasks of the tests: sorted order birds, cars, digits.
  void write_three() {
    write({{"cars", {"sedan", "suv", "van"}},
           {"birds", {"owl", "crow"}},
           {"digits", {"0", "1", "2", "3"}}});
  }
};

// "<root>/<task>/<split>/<class>/<file>" -> (task, class).
std::pair<std::string, std::string> task_and_class(const std::string& file) {
  const fs::path p(file);
  return {p.parent_path().parent_path().parent_path().filename().string(),
          p.parent_path().filename().string()};
}

TEST_F(TaskFolderTest, SortedTasksEachOwnTheirClassesLabels) {
  write_three();
  const TaskFolders f = read_task_folders(root());
  ASSERT_EQ(f.tasks.size(), 3u);
  EXPECT_EQ(f.tasks[0].name, "birds");
  EXPECT_EQ(f.tasks[1].name, "cars");
  EXPECT_EQ(f.tasks[2].name, "digits");
  EXPECT_EQ(f.tasks[0].classes, (std::vector<std::string>{"crow", "owl"}));  // sorted
  EXPECT_EQ(f.tasks[1].classes, (std::vector<std::string>{"sedan", "suv", "van"}));
  EXPECT_EQ(f.tasks[2].classes, (std::vector<std::string>{"0", "1", "2", "3"}));
  EXPECT_EQ(f.tasks[0].class_begin, 0);
  EXPECT_EQ(f.tasks[1].class_begin, 2);
  EXPECT_EQ(f.tasks[2].class_begin, 5);
  EXPECT_EQ(f.records.num_classes, 9);
  EXPECT_EQ(f.records.class_names,
            (std::vector<std::string>{"birds/crow", "birds/owl", "cars/sedan", "cars/suv",
                                      "cars/van", "digits/0", "digits/1", "digits/2", "digits/3"}));
  EXPECT_EQ(f.records.train.size(), 18u);  // 9 classes x 2
  EXPECT_EQ(f.records.test.size(), 9u);
  // Every image's label is its task's first label + its class's index in the task.
  for (const auto* split : {&f.records.train, &f.records.test}) {
    for (const auto& r : *split) {
      ASSERT_GE(r.label, 0);
      ASSERT_LT(r.label, 9);
      EXPECT_EQ(f.records.class_names[static_cast<size_t>(r.label)],
                task_and_class(r.path).first + "/" + task_and_class(r.path).second)
          << r.path;
      EXPECT_EQ(r.path.compare(0, root().size(), root()), 0) << r.path;
    }
  }
  EXPECT_EQ(f.records.train.front().path, path("birds/train/crow/img0.jpg"));
  EXPECT_EQ(f.records.test.back().path, path("digits/test/3/img2.jpg"));
}

TEST_F(TaskFolderTest, TheListFileGivesTheOrderAndTheTasks) {
  write_three();
  // tasks.txt in the data root: blank lines, comments and spaces around names are skipped.
  testing::write_text(path("tasks.txt"), "# CLR order\ndigits\n\n  cars \t\n");
  const TaskFolders f = read_task_folders(root());
  ASSERT_EQ(f.tasks.size(), 2u);  // birds is not listed
  EXPECT_EQ(f.tasks[0].name, "digits");
  EXPECT_EQ(f.tasks[1].name, "cars");
  EXPECT_EQ(f.tasks[1].class_begin, 4);
  EXPECT_EQ(f.records.class_names.front(), "digits/0");
  EXPECT_EQ(f.records.class_names.back(), "cars/van");
  EXPECT_EQ(f.records.train.front().label, 0);
  EXPECT_EQ(f.records.train.back().label, 6);
  // A list named by the key wins over tasks.txt.
  testing::write_lines(path("other.txt"), {"cars", "birds", "digits"});
  EXPECT_EQ(task_folder_order(root(), path("other.txt")),
            (std::vector<std::string>{"cars", "birds", "digits"}));
  EXPECT_EQ(read_task_list(path("other.txt")),
            (std::vector<std::string>{"cars", "birds", "digits"}));
  fs::remove(path("tasks.txt"));
  EXPECT_EQ(task_folder_order(root(), ""), (std::vector<std::string>{"birds", "cars", "digits"}));
}

TEST_F(TaskFolderTest, BadRootsAndListsNameTheFolderOrTheLine) {
  expect_error([&] { read_task_folders(path("nope")); },
               {"data root " + path("nope") + " is not a folder"});
  expect_error([&] { read_task_folders(root()); }, {root() + ": no task folders"});
  write_three();
  fs::create_directories(path(".cache"));
  expect_error([&] { read_task_folders(root()); }, {root(), "hidden folder '.cache'", "tasks.txt"});
  fs::remove(path(".cache"));
  testing::write_lines(path("tasks.txt"), {"cars", "zebra"});
  expect_error([&] { read_task_folders(root()); },
               {path("tasks.txt") + ":2: ", "task 'zebra'", path("zebra") + " is not a folder"});
  testing::write_lines(path("tasks.txt"), {"cars", "birds", "cars"});
  expect_error([&] { read_task_folders(root()); },
               {path("tasks.txt") + ":3: ", "task 'cars' is already listed at line 1"});
  testing::write_lines(path("tasks.txt"), {"cars/train"});
  expect_error([&] { read_task_folders(root()); },
               {path("tasks.txt") + ":1: ", "'cars/train' is not a folder name"});
  testing::write_lines(path("tasks.txt"), {"", "# nothing"});
  expect_error([&] { read_task_folders(root()); }, {path("tasks.txt"), "lists no tasks"});
  expect_error([&] { read_task_folders(root(), path("missing.txt")); },
               {"missing list file: " + path("missing.txt")});
}

TEST_F(TaskFolderTest, BadTaskFoldersAreErrorsNamingThem) {
  write({{"cars", {"sedan", "suv"}}});
  fs::remove_all(path("cars/test"));
  expect_error([&] { read_task_folders(root()); }, {"missing image folder: " + path("cars/test")});
  fs::remove_all(path("cars/train"));
  expect_error([&] { read_task_folders(root()); }, {"missing image folder: " + path("cars/train")});

  write({{"cars", {"sedan", "suv"}}});
  write({{"cars", {"van"}}}, 1, 0);  // van only in train/
  expect_error([&] { read_task_folders(root()); },
               {path("cars"), "class folder 'van' is in train/ but not in test/"});
  fs::remove_all(path("cars/train/van"));
  write({{"cars", {"bus"}}}, 0, 1);  // bus only in test/
  expect_error([&] { read_task_folders(root()); },
               {path("cars"), "class folder 'bus' is in test/ but not in train/"});
  fs::remove_all(path("cars/test/bus"));

  fs::create_directories(path("cars/train/suv/empty"));
  fs::remove(path("cars/train/suv/img0.jpg"));
  fs::remove(path("cars/train/suv/img1.jpg"));
  testing::write_text(path("cars/train/suv/notes.txt"), "not an image");
  expect_error([&] { read_task_folders(root()); },
               {path("cars/train/suv") + ": class folder holds no image files"});
  fs::remove_all(path("cars/train"));
  fs::create_directories(path("cars/train"));
  expect_error([&] { read_task_folders(root()); }, {path("cars/train") + ": no class folders"});
}

TEST(TaskFolderTasks, ComeBackFromTheClassNamesACacheStores) {
  const auto tasks = task_folder_tasks({"b/x", "b/y", "a/z", "a/w", "a/v"}, "c.h5");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].name, "b");
  EXPECT_EQ(tasks[0].classes, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(tasks[1].name, "a");
  EXPECT_EQ(tasks[1].class_begin, 2);
  EXPECT_EQ(tasks[1].classes, (std::vector<std::string>{"z", "w", "v"}));
  expect_error(
      [] {
        task_folder_tasks({"b/x", "a/y", "b/z"}, "c.h5");
      },
      {"c.h5", "task 'b' are not consecutive", "class 2 'b/z'"});
  expect_error(
      [] {
        task_folder_tasks({"apple", "pear"}, "cifar.h5");
      },
      {"cifar.h5", "class 0 is named 'apple'", "clbench prepare folder-sequence"});
  expect_error([] { task_folder_tasks({}, "c.h5"); }, {"c.h5", "no classes"});
}

}  // namespace
}  // namespace clbench
