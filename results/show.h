#pragma once
// A result file as text, for `clbench show`: what ran, where, its metrics, the accuracy matrices
// and what each task cost (torch-free: reading a result needs neither Python nor LibTorch).
#include <string>

#include "results/result_file.h"

namespace clbench {

std::string show_result(const RunResult& result);

}  // namespace clbench
