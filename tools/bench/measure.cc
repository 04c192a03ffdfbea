#include "tools/bench/measure.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/tcp_client.h"
#include "server/base/errno_status.h"
#include "server/base/file.h"
#include "server/base/unique_fd.h"

namespace fake_tcp {

Spread SpreadOf(std::vector<absl::Duration> samples) {
  if (samples.empty()) return {};
  std::sort(samples.begin(), samples.end());
  return {samples[samples.size() / 2], samples[samples.size() * 9 / 10],
          samples[samples.size() * 99 / 100]};
}

absl::StatusOr<ProcessStatus> ReadProcessStatus(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/status");
  absl::StatusOr<std::string> status = ReadFile(path);
  if (!status.ok()) return status.status();
  ProcessStatus result;
  bool rss = false, anon = false, threads = false;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (absl::ConsumePrefix(&line, "VmRSS:")) {
      rss = absl::SimpleAtoi(
          absl::StripSuffix(absl::StripAsciiWhitespace(line), " kB"),
          &result.rss_kb);
    } else if (absl::ConsumePrefix(&line, "RssAnon:")) {
      anon = absl::SimpleAtoi(
          absl::StripSuffix(absl::StripAsciiWhitespace(line), " kB"),
          &result.anon_kb);
    } else if (absl::ConsumePrefix(&line, "VmHWM:")) {
      (void)absl::SimpleAtoi(
          absl::StripSuffix(absl::StripAsciiWhitespace(line), " kB"),
          &result.peak_kb);
    } else if (absl::ConsumePrefix(&line, "Threads:")) {
      threads =
          absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &result.threads);
    }
  }
  if (!rss || !anon || !threads) {
    return absl::DataLossError(
        absl::StrCat("read ", path, ": no VmRSS, RssAnon or Threads line"));
  }
  return result;
}

absl::StatusOr<MemoryRollup> ReadMemoryRollup(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/smaps_rollup");
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  MemoryRollup result;
  int found = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    int64_t* field = nullptr;
    int64_t kb = 0;
    if (absl::ConsumePrefix(&line, "Rss:")) {
      field = &result.rss_kb;
    } else if (absl::ConsumePrefix(&line, "Anonymous:")) {
      field = &result.anon_kb;
    } else if (absl::ConsumePrefix(&line, "Private_Clean:") ||
               absl::ConsumePrefix(&line, "Private_Dirty:")) {
      field = &result.private_kb;
    }
    if (field == nullptr) continue;
    if (!absl::SimpleAtoi(
            absl::StripSuffix(absl::StripAsciiWhitespace(line), " kB"), &kb)) {
      return absl::DataLossError(absl::StrCat("read ", path, ": bad line"));
    }
    *field += kb;
    ++found;
  }
  if (found < 4) {
    return absl::DataLossError(absl::StrCat(
        "read ", path, ": no Rss, Anonymous, Private_Clean, Private_Dirty"));
  }
  return result;
}

absl::StatusOr<std::vector<Mapping>> ReadMappings(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/smaps");
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::map<std::string, Mapping> by_name;
  Mapping* current = nullptr;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (line.empty()) continue;
    // A mapping's header: "addr-addr perms offset dev inode [path]".
    if (absl::ascii_isxdigit(line[0]) && line.find('-') < line.find(' ')) {
      std::vector<absl::string_view> fields =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      std::string name = fields.size() >= 6 ? std::string(fields[5])
                                            : std::string("anonymous");
      if (const size_t slash = name.rfind('/');
          slash != std::string::npos && name[0] == '/') {
        // A file's text, read-only data and writable data apart.
        name = absl::StrCat(name.substr(slash + 1), " ", fields[1]);
      }
      current = &by_name[name];
      current->name = name;
      continue;
    }
    if (current == nullptr) continue;
    int64_t kb = 0;
    int64_t* field = nullptr;
    if (absl::ConsumePrefix(&line, "Rss:")) {
      field = &current->rss_kb;
    } else if (absl::ConsumePrefix(&line, "Private_Clean:") ||
               absl::ConsumePrefix(&line, "Private_Dirty:")) {
      field = &current->private_kb;
    }
    if (field != nullptr &&
        absl::SimpleAtoi(
            absl::StripSuffix(absl::StripAsciiWhitespace(line), " kB"), &kb)) {
      *field += kb;
    }
  }
  std::vector<Mapping> out;
  for (auto& [name, m] : by_name) out.push_back(std::move(m));
  std::sort(out.begin(), out.end(), [](const Mapping& a, const Mapping& b) {
    return a.rss_kb > b.rss_kb;
  });
  return out;
}

absl::StatusOr<LaunchedServer> LaunchAndConnect(
    const std::vector<std::string>& argv, const std::string& address_file,
    absl::Duration timeout) {
  LaunchedServer server;
  server.launched = absl::Now();
  absl::StatusOr<testing::Subprocess> process =
      testing::Subprocess::Start(argv);
  if (!process.ok()) return process.status();
  server.process.emplace(*std::move(process));
  auto failed = [&](const absl::Status& s) {
    return absl::Status(
        s.code(), absl::StrCat(argv[0], ": ", s.message(),
                               "; its stderr: ", server.process->Stderr()));
  };
  absl::StatusOr<std::string> address =
      WaitForAddressFile(address_file, timeout, server.process->pidfd());
  if (!address.ok()) return failed(address.status());
  absl::StatusOr<TcpClient> client = TcpClient::Connect(*address, timeout);
  if (!client.ok()) return failed(client.status());
  server.connect = absl::Now() - server.launched;
  server.address = *std::move(address);
  return server;
}

bool IsStaticExecutable(const std::string& path) {
  // Only the ELF header and the program headers are read, not the whole file.
  const UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  Elf64_Ehdr header;
  if (!fd.ok() ||
      pread(fd.get(), &header, sizeof(header), 0) !=
          static_cast<ssize_t>(sizeof(header)) ||
      memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
    return false;
  }
  for (size_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr program;
    const off_t at =
        static_cast<off_t>(header.e_phoff + i * header.e_phentsize);
    if (pread(fd.get(), &program, sizeof(program), at) !=
        static_cast<ssize_t>(sizeof(program))) {
      return false;
    }
    if (program.p_type == PT_INTERP) return false;
  }
  return true;
}

absl::StatusOr<std::string> MakeTempDir(const std::string& prefix) {
  std::string base = "/tmp";
  for (const char* name : {"TMPDIR", "TEST_TMPDIR"}) {  // the last set wins
    const char* value = getenv(name);
    if (value != nullptr && *value != '\0') base = value;
  }
  std::string pattern = absl::StrCat(base, "/", prefix, ".XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("mkdtemp ", pattern));
  }
  return pattern;
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.2f ms", absl::ToDoubleMilliseconds(d));
}

std::string Ratio(double a, double b) {
  return b > 0 ? absl::StrFormat("%.2fx", a / b) : "-";
}

std::string Mb(int64_t kb) {
  return absl::StrFormat("%.1f MB", static_cast<double>(kb) / 1024);
}

}  // namespace fake_tcp
