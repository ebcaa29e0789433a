// cpu_kernels (harness/run/cpu_kernels.h): in the default mode, portable, a process gives the same
// bits whatever kernels LibTorch, MKL and oneDNN would have picked on their own, on an Intel or an
// AMD processor, and those bits are the published fingerprint (`clbench kernels`). Other machines
// are imitated by the libraries' own environment variables (ATEN_CPU_CAPABILITY, MKL_CBWR,
// ONEDNN_MAX_CPU_ISA) and by telling MKL it runs on an Intel processor (tests/shims: a Xeon's MKL
// on whatever processor runs the tests), which the pinned modes override and the native mode
// honours.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "harness/run/kernel_fingerprint.h"
#include "results/result_file.h"
#include "support.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;

const std::string kIntelMkl = std::string("LD_PRELOAD=") + CLBENCH_FAKE_INTEL_MKL + " ";

// An Intel machine without AVX2 in ATen and oneDNN, whose MKL would run its AVX2 branch.
const std::string kOtherMachine =
    kIntelMkl + "ATEN_CPU_CAPABILITY=default MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=SSE41 ";

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool intel_processor() {
  return cpu_kernels().vendor == "GenuineIntel";
}

// This process runs the default mode (support.h), as `clbench run` does; the published digests
// are those of the quick start's thread count.
TEST(CpuKernels, ThePortableModeComputesThePublishedFingerprint) {
  ASSERT_EQ(cpu_kernels().mode, "portable");
  const int before = at::get_num_threads();
  at::set_num_threads(kPublishedThreads);
  const auto rows = kernel_fingerprint();
  at::set_num_threads(before);
  for (const auto& r : rows) {
    EXPECT_EQ(r.digest, published_digest(r.family))
        << r.family << " (" << r.operations << ") differs from the published fingerprint on "
        << cpu_kernels().processor << ": results made here differ from the README's";
  }
}

// What `clbench kernels` prints: family -> digest, and its verdict.
struct Kernels {
  std::map<std::string, std::string> digests;
  bool published = false;
};

Kernels kernels(const std::string& env, const std::string& args) {
  std::string out;
  const int code = testing::run_command(env + testing::clbench_cmd("kernels " + args), out);
  EXPECT_TRUE(code == 0 || code == 1) << out;
  Kernels k;
  k.published = out.find("This machine computes the published bits") != std::string::npos;
  std::istringstream lines(out.substr(std::min(out.size(), out.find("family"))));
  std::string line;
  std::getline(lines, line);  // the header
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string family, digest;
    if (fields >> family >> digest && digest.size() == 16) k.digests[family] = digest;
  }
  EXPECT_FALSE(k.digests.empty()) << out;
  return k;
}

// The families MKL computes (matrix products, and what is built of them).
const char* const kMklFamilies[] = {"gemm", "attention", "optimizers", "quick-start-step"};

// MKL runs its AVX2 branch whichever vendor it is told it runs on, and that branch is what an
// Intel Xeon computed in the former avx2 mode; on an AMD processor that mode's AUTO branch
// computed other bits, which is why the Xeon's numbers differed from the README's.
TEST(CpuKernels, ThePortableModeComputesWhatMklsAvx2BranchComputesOnAnIntelProcessor) {
  const auto portable = kernels("", "");
  EXPECT_TRUE(portable.published);
  EXPECT_EQ(kernels(kIntelMkl, "").digests, portable.digests);
  const auto xeon_avx2 = kernels(kIntelMkl, "--cpu-kernels avx2");
  for (const char* family : kMklFamilies)
    EXPECT_EQ(portable.digests.at(family), xeon_avx2.digests.at(family)) << family;
  if (intel_processor()) return;  // the shim changes nothing: nothing more to tell apart
  EXPECT_NE(kernels("", "--cpu-kernels avx2").digests.at("gemm"), xeon_avx2.digests.at("gemm"))
      << "MKL took the same branch as on an Intel processor: this test no longer imitates one";
}

// MKL's COMPATIBLE branch gives the same bits whatever vendor MKL is told it runs on.
TEST(CpuKernels, TheCompatibleModeIgnoresTheVendorMklSees) {
  EXPECT_EQ(kernels(kIntelMkl, "--cpu-kernels compatible").digests,
            kernels("", "--cpu-kernels compatible").digests);
}

// A small CNN pretraining (convolutions, matrix products, softmax): its weights, bit for bit.
std::string pretrained_weights(const std::string& env, const std::string& mode,
                               const fs::path& out) {
  std::string log;
  const int code = testing::run_command(
      env + testing::clbench_cmd("pretrain --backbone cnn --classes 6 --instances 6 --epochs 2 "
                                 "--batch-size 12 --threads 2 --cpu-kernels " +
                                 mode + " --out " + out.string()),
      log);
  EXPECT_EQ(code, 0) << log;
  return read_bytes(out);
}

TEST(CpuKernels, ThePortableModeGivesTheSameBitsUnderAnotherMachinesKernelChoice) {
  const testing::TempDir dir;
  const auto here = pretrained_weights("", "portable", dir / "here.safetensors");
  const auto other = pretrained_weights(kOtherMachine, "portable", dir / "other.safetensors");
  const auto native = pretrained_weights(kOtherMachine, "native", dir / "native.safetensors");
  ASSERT_FALSE(here.empty());
  EXPECT_TRUE(here == other) << "portable: another machine's kernel choice changed the bits";
  EXPECT_FALSE(native == here) << "native mode should honour the other machine's kernels (or "
                                  "this test no longer tells the modes apart)";
}

TEST(CpuKernels, TheResultFileRecordsTheProcessorTheKernelsTheBlasAndTheThreads) {
  const testing::TempDir dir;
  const std::string out = dir.root();
  std::string log;
  for (const std::string mode : {"portable", "native"}) {
    ASSERT_EQ(testing::run_command(
                  std::string("ATEN_CPU_CAPABILITY=default ") +
                      testing::clbench_cmd("run -b synthetic -m finetune --threads 2 --out " + out +
                                           " --name " + mode + " --set cpu_kernels=" + mode),
                  log),
              0)
        << log;
    const auto r = read_result(out + "/synthetic/" + mode + "/seed-0.h5");
    EXPECT_EQ(r.cpu_kernels, mode);
    EXPECT_EQ(r.cpu_capability, mode == "portable" ? "AVX2" : "DEFAULT");
    EXPECT_FALSE(r.cpu.empty());
    EXPECT_FALSE(r.cpu_vendor.empty());
    if (mode == "portable") {
      EXPECT_NE(r.cpu_blas.find("branch AVX2"), std::string::npos) << r.cpu_blas;
    }
    EXPECT_NE(r.config_json.find("\"threads\":2"), std::string::npos) << r.config_json;
  }
}

// threads=0 is resolved before the run, so the result names the count that decided its bits.
TEST(CpuKernels, ThreadsZeroIsResolvedToTheCountTheRunUses) {
  const testing::TempDir dir;
  std::string log;
  ASSERT_EQ(testing::run_command(
                "OMP_NUM_THREADS=3 " +
                    testing::clbench_cmd("run -b synthetic -m finetune --out " + dir.root()),
                log),
            0)
      << log;
  const auto r = read_result(dir.root() + "/synthetic/finetune/seed-0.h5");
  EXPECT_NE(r.config_json.find("\"threads\":3"), std::string::npos) << r.config_json;
}

}  // namespace
}  // namespace clbench
