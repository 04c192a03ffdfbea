#include "server/testing/network_isolation.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace fake_tcp::testing {
namespace {

ABSL_CONST_INIT absl::Mutex g_mu(absl::kConstInit);
// What //server/testing:own_network's initializer recorded (never freed).
NetworkIsolation* g_isolation ABSL_GUARDED_BY(g_mu) = nullptr;

// The number of threads of this process, or -1 if /proc cannot tell.
int ThreadCount() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  int n = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

absl::Status WriteProcFile(const char* path, const std::string& text) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("open ", path, ": ", strerror(errno)));
  }
  const ssize_t n = write(fd, text.data(), text.size());
  const int error = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    return absl::InternalError(
        absl::StrCat("write \"", text, "\" to ", path, ": ", strerror(error)));
  }
  return absl::OkStatus();
}

// Maps the caller's uid and gid to themselves in the new user namespace, so
// files keep their owners and the process keeps its identity.
absl::Status MapOwnIds(uid_t uid, gid_t gid) {
  // An unprivileged process must give up setgroups() before it may map gids
  // (kernels older than 3.19 have no such file).
  if (access("/proc/self/setgroups", F_OK) == 0) {
    if (absl::Status s = WriteProcFile("/proc/self/setgroups", "deny");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = WriteProcFile("/proc/self/uid_map",
                                     absl::StrCat(uid, " ", uid, " 1"));
      !s.ok()) {
    return s;
  }
  return WriteProcFile("/proc/self/gid_map", absl::StrCat(gid, " ", gid, " 1"));
}

absl::Status BringLoopbackUp() {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("socket(AF_INET) for lo: ", strerror(errno)));
  }
  ifreq request = {};
  strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  absl::Status status;
  if (ioctl(fd, SIOCGIFFLAGS, &request) != 0) {
    status = absl::InternalError(
        absl::StrCat("ioctl(SIOCGIFFLAGS, lo): ", strerror(errno)));
  } else {
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &request) != 0) {
      status = absl::InternalError(
          absl::StrCat("ioctl(SIOCSIFFLAGS, lo up): ", strerror(errno)));
    }
  }
  close(fd);
  return status;
}

constexpr char kPortZero[] =
    "or set options.server.port = 0 and give the code under test address()";

}  // namespace

absl::Status EnterOwnNetworkNamespace() {
  const uid_t uid = geteuid();
  const gid_t gid = getegid();
  // Without /proc (a bare root) the ids could not be mapped: a user namespace
  // would leave the process as the overflow uid. Try a plain one only.
  if (access("/proc/self/uid_map", F_OK) != 0) {
    if (unshare(CLONE_NEWNET) == 0) return BringLoopbackUp();
    return absl::PermissionDeniedError(absl::StrCat(
        "no /proc/self/uid_map (is /proc mounted?) for a user namespace; "
        "unshare(CLONE_NEWNET): ",
        strerror(errno)));
  }
  if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
    if (absl::Status s = MapOwnIds(uid, gid); !s.ok()) {
      return absl::InternalError(
          absl::StrCat("in a new user namespace, mapping uid ", uid,
                       " and gid ", gid, ": ", s.message()));
    }
    return BringLoopbackUp();
  }
  const int user_error = errno;
  if (user_error == EINVAL) {
    const int threads = ThreadCount();
    if (threads > 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "unshare(CLONE_NEWUSER|CLONE_NEWNET): ", threads,
          " threads run already; a process can enter a user namespace only "
          "while it has one thread (//server/testing:own_network does it "
          "before "
          "main())"));
    }
  }
  // Root where user namespaces are off (a sysctl, a container's seccomp
  // profile) may still make a plain network namespace.
  if (unshare(CLONE_NEWNET) == 0) return BringLoopbackUp();
  const int net_error = errno;
  return absl::PermissionDeniedError(absl::StrCat(
      "unshare(CLONE_NEWUSER|CLONE_NEWNET): ", strerror(user_error),
      "; unshare(CLONE_NEWNET): ", strerror(net_error)));
}

NetworkIsolation StartupNetworkIsolation() {
  absl::MutexLock lock(&g_mu);
  return g_isolation == nullptr ? NetworkIsolation() : *g_isolation;
}

void SetStartupNetworkIsolation(NetworkIsolation isolation) {
  absl::MutexLock lock(&g_mu);
  if (g_isolation == nullptr) {
    g_isolation = new NetworkIsolation(std::move(isolation));
  } else {
    *g_isolation = std::move(isolation);
  }
}

std::string NetworkIsolation::Describe() const {
  switch (kind) {
    case Kind::kIsolated:
      return "This test runs in a network namespace of its own, made at start "
             "by fake_tcp_server_test()";
    case Kind::kOptedOut:
      return absl::StrCat("This test shares the network it was started in (",
                          kOwnNetworkEnv, "=0)");
    case Kind::kUnavailable:
      return absl::StrCat(
          "This test could not make a network namespace of its own (",
          status.message(), ") and shares the network it was started in");
    case Kind::kNotAttempted:
      break;
  }
  return "This test was not built with the fake_tcp_server_test() Bazel macro "
         "(nor linked //server/testing:own_network), so it shares whatever "
         "network "
         "the executor gave it";
}

std::string PortInUseHint(const std::string& address) {
  const NetworkIsolation isolation = StartupNetworkIsolation();
  const std::string why = isolation.Describe();
  switch (isolation.kind) {
    case NetworkIsolation::Kind::kIsolated:
      return absl::StrCat(
          why, ", so no other test can hold ", address,
          ": something in this test does (a second fake or a server the code "
          "under test started, or one an earlier test case did not stop); "
          "stop it, ",
          kPortZero);
    case NetworkIsolation::Kind::kOptedOut:
      return absl::StrCat(why, ": another test or process holds ", address,
                          "; drop the opt-out, ", kPortZero);
    case NetworkIsolation::Kind::kUnavailable:
      return absl::StrCat(
          why, ": another test or process holds ", address,
          ". Run where each test gets its own network (linux-sandbox with "
          "--sandbox_default_allow_network=false; on a remote engine, its "
          "per-action network isolation), allow unprivileged user namespaces "
          "(sysctl kernel.unprivileged_userns_clone=1, or a seccomp profile "
          "that allows unshare), run one test at a time "
          "(--local_test_jobs=1), ",
          kPortZero);
    case NetworkIsolation::Kind::kNotAttempted:
      break;
  }
  return absl::StrCat(
      why,
      ": under linux-sandbox with the network blocked that is its own, but "
      "with --spawn_strategy=standalone, the processwrapper sandbox or a "
      "remote worker without per-action network isolation another test may "
      "hold ",
      address, ". Build the test with the fake_tcp_server_test() macro, ",
      kPortZero);
}

std::string PortInUseMessage(const std::string& address,
                             absl::string_view why) {
  return absl::StrCat("the fake server cannot listen on ", address, ": ", why,
                      ". ", PortInUseHint(address));
}

}  // namespace fake_tcp::testing
