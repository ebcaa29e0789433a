#pragma once
// An MPI return code other than MPI_SUCCESS becomes an Error naming the call and MPI's reason.
// Return codes reach the caller because make_communicator installs MPI_ERRORS_RETURN on
// MPI_COMM_WORLD (and ShmSum on its window); the default handler would abort first.
#include <mpi.h>

#include <string>

#include "harness/foundation/error.h"

namespace clbench {

inline void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char reason[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, reason, &length) != MPI_SUCCESS) length = 0;
  throw Error(std::string("MPI error in ") + what +
              (length > 0 ? ": " + std::string(reason, static_cast<size_t>(length)) : ""));
}

}  // namespace clbench
