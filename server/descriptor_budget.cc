#include "server/descriptor_budget.h"

#include <dirent.h>
#include <sys/resource.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fake_tcp {
namespace {

// Descriptors open now; 3 (the standard ones) when /proc is not mounted.
size_t OpenDescriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 3;
  size_t n = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n > 0 ? n - 1 : 0;  // not the directory's own descriptor
}

}  // namespace

absl::StatusOr<DescriptorBudget> ConnectionBudget(bool proxy) {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 ||
      limit.rlim_cur == RLIM_INFINITY) {
    return DescriptorBudget{SIZE_MAX, "RLIMIT_NOFILE unlimited"};
  }
  const size_t soft = static_cast<size_t>(limit.rlim_cur);
  const size_t open = OpenDescriptors();
  const size_t used = open + kReservedDescriptors;
  DescriptorBudget budget;
  budget.why = absl::StrCat("RLIMIT_NOFILE ", soft, ", ", open, " open, ",
                            kReservedDescriptors, " reserved",
                            proxy ? ", two per proxied connection" : "");
  budget.connections = soft > used ? (soft - used) / (proxy ? 2 : 1) : 0;
  if (budget.connections == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Start: the descriptor limit leaves no room for a connection (",
        budget.why, "); raise it (ulimit -n)"));
  }
  return budget;
}

}  // namespace fake_tcp
