#ifndef TOOLS_FLAGS_H_
#define TOOLS_FLAGS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace fake_tcp {

// The value of a flag that may be given more than once (--redact=A
// --redact=B): ParseFlagsOrExit gathers every occurrence, on the command line
// and in flag files, in order (absl keeps only the last one of other flags).
// Its text form (CurrentValue) is the values joined by newlines, so a value
// cannot hold a newline (write \n in a regex).
struct RepeatedFlag {
  std::vector<std::string> values;
};
bool AbslParseFlag(absl::string_view text, RepeatedFlag* flag,
                   std::string* error);
std::string AbslUnparseFlag(const RepeatedFlag& flag);

// Parses the command line with absl::ParseCommandLine, but first checks every
// flag and value itself, so that an unknown flag or a bad value ends the
// program with `usage_exit_code` (absl's own parser exits 1) and a line naming
// the flag:
// "<program>: unknown flag --bogus". A positional argument is a usage error
// too (every setting is a flag). Returns argv[0] alone.
std::vector<char*> ParseFlagsOrExit(int argc, char** argv, int usage_exit_code);

// Makes --help and --helpshort list the flags of the program's own
// tools/<name>_main.cc whatever the binary is called (absl's default matches
// the file to the binary's name). ParseFlagsOrExit calls it.
void ShowProgramFlagsInHelp();

// Returns `path` as the user meant it: a relative path is taken from the
// directory `bazel run` was called in ($BUILD_WORKING_DIRECTORY), not from the
// runfiles tree Bazel runs the program in. Absolute paths, empty paths, "-",
// and relative paths outside `bazel run` are returned unchanged.
std::string UserPath(const std::string& path);

// The first `shown` of `names` joined with ", ", then " and N more" for the
// rest and for `not_listed` more that `names` leaves out, so that a line the
// programs print stays readable with 150,000 rules.
template <typename Names>
std::string JoinCapped(const Names& names, size_t not_listed = 0,
                       size_t shown = 20) {
  const size_t n = static_cast<size_t>(names.size());
  const size_t more = (n > shown ? n - shown : 0) + not_listed;
  std::string out = absl::StrJoin(
      names.begin(), names.begin() + (n > shown ? shown : n), ", ");
  if (more > 0) absl::StrAppend(&out, " and ", more, " more");
  return out;
}

}  // namespace fake_tcp

#endif  // TOOLS_FLAGS_H_
