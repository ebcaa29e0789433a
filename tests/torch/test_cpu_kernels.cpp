// cpu_kernels (harness/run/cpu_kernels.h): in the default mode, avx2, a process gives the same bits
// whatever kernels LibTorch, MKL and oneDNN would have picked on their own. Other machines are
// imitated by the libraries' own environment variables (ATEN_CPU_CAPABILITY, MKL_CBWR,
// ONEDNN_MAX_CPU_ISA), which the mode overrides and the native mode honours.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "results/result_file.h"
#include "support.h"
#include "tests/core/fixtures.h"

namespace clbench {
namespace {

namespace fs = std::filesystem;

// The kernels of an old machine without AVX2 in every library.
const char* const kOldMachine =
    "ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41 ";

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A small CNN pretraining (convolutions, matrix products, softmax): its weights, bit for bit.
std::string pretrained_weights(const std::string& env, const std::string& mode,
                               const fs::path& out) {
  std::string log;
  const int code = testing::run_command(
      env + testing::clbench_cmd("pretrain --backbone cnn --classes 6 --instances 6 --epochs 2 "
                                 "--batch-size 12 --threads 1 --cpu-kernels " +
                                 mode + " --out " + out.string()),
      log);
  EXPECT_EQ(code, 0) << log;
  return read_bytes(out);
}

TEST(CpuKernels, Avx2ModeGivesTheSameBitsUnderAnotherMachinesKernelChoice) {
  const testing::TempDir dir;
  const auto here = pretrained_weights("", "avx2", dir / "here.safetensors");
  const auto old = pretrained_weights(kOldMachine, "avx2", dir / "old.safetensors");
  const auto native_old = pretrained_weights(kOldMachine, "native", dir / "native.safetensors");
  ASSERT_FALSE(here.empty());
  EXPECT_TRUE(here == old) << "avx2 mode: the kernels an old machine would pick changed the bits";
  EXPECT_FALSE(native_old == here) << "native mode should honour the old machine's kernels (or "
                                      "this test no longer tells the modes apart)";
}

TEST(CpuKernels, TheResultFileRecordsTheProcessorTheKernelsAndTheMode) {
  const testing::TempDir dir;
  const std::string out = dir.root();
  std::string log;
  for (const std::string mode : {"avx2", "native"}) {
    ASSERT_EQ(testing::run_command(
                  std::string("ATEN_CPU_CAPABILITY=default ") +
                      testing::clbench_cmd("run -b synthetic -m finetune --out " + out +
                                           " --name " + mode + " --set cpu_kernels=" + mode),
                  log),
              0)
        << log;
    const auto r = read_result(out + "/synthetic/" + mode + "/seed-0.h5");
    EXPECT_EQ(r.cpu_kernels, mode);
    EXPECT_EQ(r.cpu_capability, mode == "avx2" ? "AVX2" : "DEFAULT");
    EXPECT_FALSE(r.cpu.empty());
  }
}

}  // namespace
}  // namespace clbench
