// Runs a program with its descriptor limit (soft and hard RLIMIT_NOFILE) set,
// as `ulimit -n N; exec PROGRAM ARGS...` does, without a shell, so the tests
// that use it run where no /bin/sh exists (a bare remote worker):
//
//   descriptor_limit_exec N PROGRAM [ARGS...]
//
// Exit 2 for bad arguments, 1 when the limit cannot be set or the program
// cannot be run; otherwise the program's own.

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "absl/strings/numbers.h"

int main(int argc, char** argv) {
  unsigned long long limit = 0;
  if (argc < 3 || !absl::SimpleAtoi(argv[1], &limit) || limit == 0) {
    fprintf(stderr, "usage: descriptor_limit_exec N PROGRAM [ARGS...]\n");
    return 2;
  }
  const rlimit rl{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    fprintf(stderr,
            "descriptor_limit_exec: setrlimit(RLIMIT_NOFILE, %llu): %s\n",
            limit, strerror(errno));
    return 1;
  }
  execv(argv[2], argv + 2);
  fprintf(stderr, "descriptor_limit_exec: exec %s: %s\n", argv[2],
          strerror(errno));
  return 1;
}
