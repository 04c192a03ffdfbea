#ifndef TOOLS_FLAGS_H_
#define TOOLS_FLAGS_H_

#include <vector>

namespace fake_tcp {

// Parses the command line with absl::ParseCommandLine, but first checks every
// flag and value itself, so that an unknown flag or a bad value ends the
// program with `usage_exit_code` (absl's own parser exits 1) and a line naming
// the flag:
// "<program>: unknown flag --bogus". Returns the positional arguments.
std::vector<char*> ParseFlagsOrExit(int argc, char** argv, int usage_exit_code);

}  // namespace fake_tcp

#endif  // TOOLS_FLAGS_H_
