#pragma once
// An MPI return code other than MPI_SUCCESS becomes an Error naming the call.
#include <mpi.h>

#include <string>

#include "harness/error.h"

namespace clbench {

inline void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw Error(std::string("MPI error in ") + what);
}

}  // namespace clbench
