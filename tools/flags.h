#ifndef TOOLS_FLAGS_H_
#define TOOLS_FLAGS_H_

#include <string>
#include <vector>

namespace fake_tcp {

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

}  // namespace fake_tcp

#endif  // TOOLS_FLAGS_H_
