#include "tools/flags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace fake_tcp {
namespace {

// Every occurrence of each RepeatedFlag seen by CheckArgument, by name. Only
// ParseFlagsOrExit uses it, on the main thread, before any other runs.
std::map<std::string, std::vector<std::string>>& RepeatedOccurrences() {
  static auto* const occurrences =
      new std::map<std::string, std::vector<std::string>>();
  return *occurrences;
}

// Flags absl's parser handles itself (usage, flag files, environment).
bool IsBuiltIn(absl::string_view name) {
  for (absl::string_view b :
       {"help", "helpfull", "helpshort", "helppackage", "version",
        "only_check_args", "flagfile", "fromenv", "tryfromenv", "undefok"}) {
    if (name == b) return true;
  }
  return false;
}

[[noreturn]] void Fail(const char* program, const std::string& message,
                       int code) {
  const absl::string_view base = program;
  fprintf(stderr, "%s: %s (see --help)\n",
          std::string(base.substr(base.rfind('/') + 1)).c_str(),
          message.c_str());
  exit(code);
}

// True for the files whose flags --help shows: a program's own
// tools/<name>_main.cc and the flag groups it links (tools/<group>_flags.cc),
// whatever the binary is called. (absl's default matches the file to the
// binary's name, so a copied or renamed binary showed none.)
bool IsProgramFlagsFile(absl::string_view file) {
  return (absl::EndsWith(file, "_main.cc") ||
          absl::EndsWith(file, "_flags.cc")) &&
         (absl::StartsWith(file, "tools/") ||
          absl::StrContains(file, "/tools/"));
}

}  // namespace

void ShowProgramFlagsInHelp() {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = IsProgramFlagsFile;
  usage.contains_helpshort_flags = IsProgramFlagsFile;
  absl::SetFlagsUsageConfig(usage);
}

namespace {

// Checks one command-line or flag-file argument ("--name=value", "--name", or
// "--name" followed by `next`, which it then sets `*used_next`), so that every
// usage error exits with the program's usage code: absl's parser exits 1 on its
// own.
void CheckArgument(const char* program, absl::string_view arg, const char* next,
                   bool* used_next, int code, int depth);

// A --flagfile's files: each must be readable, each line is one argument.
void CheckFlagFiles(const char* program, absl::string_view paths, int code,
                    int depth) {
  if (depth > 8) {
    Fail(program, "--flagfile: nested more than 8 deep", code);
  }
  for (absl::string_view path : absl::StrSplit(paths, ',', absl::SkipEmpty())) {
    std::ifstream in{std::string(path)};
    if (!in) {
      Fail(
          program,
          absl::StrCat("--flagfile: cannot read ", path, ": ", strerror(errno)),
          code);
    }
    std::string line;
    while (std::getline(in, line)) {
      const absl::string_view arg = absl::StripAsciiWhitespace(line);
      if (arg.empty() || arg[0] == '#') continue;
      CheckArgument(program, arg, nullptr, nullptr, code, depth + 1);
    }
  }
}

void CheckArgument(const char* program, absl::string_view arg, const char* next,
                   bool* used_next, int code, int depth) {
  if (arg.size() < 2 || arg[0] != '-') return;  // positional
  absl::string_view body = absl::StripPrefix(absl::StripPrefix(arg, "-"), "-");
  const size_t eq = body.find('=');
  const absl::string_view name = body.substr(0, eq);
  if (name == "flagfile") {
    if (eq != absl::string_view::npos) {
      CheckFlagFiles(program, body.substr(eq + 1), code, depth);
    } else if (next != nullptr) {
      *used_next = true;
      CheckFlagFiles(program, next, code, depth);
    }
    return;
  }
  if (IsBuiltIn(name)) return;
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr && absl::StartsWith(name, "no")) {
    absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
    if (negated != nullptr && negated->IsOfType<bool>() &&
        eq == absl::string_view::npos) {
      return;  // --noquiet
    }
  }
  if (flag == nullptr) {
    Fail(program, "unknown flag --" + std::string(name), code);
  }
  std::string value;
  if (eq != absl::string_view::npos) {
    value = std::string(body.substr(eq + 1));
  } else if (flag->IsOfType<bool>()) {
    value = "true";
  } else if (next != nullptr) {
    *used_next = true;
    value = next;  // --flag value
  } else {
    Fail(program, "missing value for --" + std::string(name), code);
  }
  // A string flag takes any value: not set twice (a 100 MiB --reply in a
  // flag file would be copied once more for nothing).
  if (flag->IsOfType<std::string>()) return;
  if (flag->IsOfType<RepeatedFlag>()) {
    RepeatedOccurrences()[std::string(name)].push_back(std::move(value));
    return;
  }
  std::string error;
  if (!flag->ParseFrom(value, &error)) {
    Fail(program,
         "invalid value \"" + value + "\" for --" + std::string(name) + ": " +
             error,
         code);
  }
}

}  // namespace

std::vector<char*> ParseFlagsOrExit(int argc, char** argv,
                                    int usage_exit_code) {
  ShowProgramFlagsInHelp();
  for (int i = 1; i < argc; ++i) {
    if (absl::string_view(argv[i]) == "--") break;
    bool used_next = false;
    CheckArgument(argv[0], argv[i], i + 1 < argc ? argv[i + 1] : nullptr,
                  &used_next, usage_exit_code, 0);
    if (used_next) ++i;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  for (const auto& [name, values] : RepeatedOccurrences()) {
    std::string error;
    absl::FindCommandLineFlag(name)->ParseFrom(absl::StrJoin(values, "\n"),
                                               &error);
  }
  if (positional.size() > 1) {
    Fail(argv[0],
         absl::StrCat("unexpected argument \"", positional[1],
                      "\" (every setting is a --flag)"),
         usage_exit_code);
  }
  return positional;
}

bool AbslParseFlag(absl::string_view text, RepeatedFlag* flag,
                   std::string* /*error*/) {
  flag->values = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return true;
}

std::string AbslUnparseFlag(const RepeatedFlag& flag) {
  return absl::StrJoin(flag.values, "\n");
}

std::string UserPath(const std::string& path) {
  const char* dir = getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path == "-" || path[0] == '/' || dir == nullptr ||
      *dir == '\0') {
    return path;
  }
  return std::string(dir) + "/" + path;
}

}  // namespace fake_tcp
