// The registries behind methods, benchmarks and backbones: one entry per name, in one sorted order,
// and a name registered by two files refused with both files named.
#include <gtest/gtest.h>

#include "harness/foundation/registry.h"

namespace clbench {
namespace {

struct Named {
  std::string name;
  int id = 0;
};
struct Other {
  std::string name;
};

TEST(Registry, KeepsEntriesSortedByNameWhateverTheRegistrationOrder) {
  using R = Registry<Named>;
  for (const char* n : {"mas", "ewc", "si", "agem", "lwf"}) R::add({n, 0}, "methods/x.cpp");
  std::vector<std::string> sorted = R::names();
  EXPECT_EQ(sorted, (std::vector<std::string>{"agem", "ewc", "lwf", "mas", "si"}));
  EXPECT_EQ(&R::all(), &R::all()) << "one list, not re-sorted copies";
  EXPECT_EQ(R::file_of("lwf"), "methods/x.cpp");
}

TEST(Registry, ANameRegisteredTwiceIsAnErrorNamingBothFiles) {
  using R = Registry<Other>;
  EXPECT_TRUE(R::add({"ewc"}, "methods/ewc.cpp"));
  EXPECT_TRUE(R::add({"si"}, "methods/si.cpp"));
  EXPECT_FALSE(R::add({"ewc"}, "methods/prompts/ewc_copy.cpp"));
  try {
    R::find("si", "method");
    FAIL() << "a registry holding a duplicate answered";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("\"ewc\" is registered twice"), std::string::npos) << what;
    EXPECT_NE(what.find("methods/ewc.cpp"), std::string::npos) << what;
    EXPECT_NE(what.find("methods/prompts/ewc_copy.cpp"), std::string::npos) << what;
  }
  EXPECT_THROW(R::names(), Error);
}

struct Refused {
  std::string name;
};

TEST(Registry, AnEntryRefusedAtRegistrationIsReportedByTheFirstLookup) {
  using R = Registry<Refused>;
  EXPECT_TRUE(R::add({"ok"}, "methods/ok.cpp"));
  EXPECT_NO_THROW(R::find("ok", "method"));
  R::refuse("methods/l2.cpp: the tiny settings of \"l2\" name \"lamda\"");
  try {
    R::all();
    FAIL() << "the refusal was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"lamda\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clbench
