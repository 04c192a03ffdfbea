#include "server/testing/network_isolation.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"

namespace fake_tcp::testing {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

// A listening socket on 127.0.0.1 (an ephemeral port), closed on destruction.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        listen(fd_, 1) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Runs the probe (built with or without //server/testing:own_network) and
// returns its stdout.
std::string RunProbe(const std::string& binary, const std::string& mode,
                     int port, const std::vector<std::string>& env = {}) {
  absl::StatusOr<std::string> path =
      Runfile(absl::StrCat("fake_tcp_server/testing/", binary));
  if (!path.ok()) return std::string(path.status().message());
  Subprocess::Options options;
  options.env = env;
  absl::StatusOr<Subprocess> probe =
      Subprocess::Start({*path, mode, absl::StrCat(port)}, options);
  if (!probe.ok()) return std::string(probe.status().message());
  absl::StatusOr<int> code = probe->Wait(kTimeout);
  if (!code.ok() || *code != 0) {
    return absl::StrCat("probe failed: ", code.ok() ? absl::StrCat(*code) : "",
                        " ", probe->Stderr());
  }
  return probe->Stdout();
}

bool PermissionDenied() {
  return StartupNetworkIsolation().kind ==
             NetworkIsolation::Kind::kUnavailable &&
         absl::IsPermissionDenied(StartupNetworkIsolation().status);
}

TEST(NetworkIsolationTest, ThisTestRunsInItsOwnNamespaceWithOnlyLoopbackUp) {
  if (PermissionDenied()) {
    GTEST_SKIP() << "this kernel forbids it: "
                 << StartupNetworkIsolation().status;
  }
  EXPECT_EQ(StartupNetworkIsolation().kind, NetworkIsolation::Kind::kIsolated)
      << StartupNetworkIsolation().Describe();
  std::vector<std::string> interfaces;
  if (struct if_nameindex* names = if_nameindex(); names != nullptr) {
    for (struct if_nameindex* i = names; i->if_index != 0; ++i) {
      interfaces.push_back(i->if_name);
    }
    if_freenameindex(names);
  }
  EXPECT_THAT(interfaces, ElementsAre("lo"));
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq request = {};
  strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  ASSERT_EQ(ioctl(fd, SIOCGIFFLAGS, &request), 0);
  close(fd);
  EXPECT_TRUE(request.ifr_flags & IFF_UP);
  EXPECT_NE(Listener().port(), 0);  // 127.0.0.1 binds
}

TEST(NetworkIsolationTest, AProcessThatIsolatesItselfBindsAPortHeldOutside) {
  if (PermissionDenied()) GTEST_SKIP() << StartupNetworkIsolation().status;
  Listener held;
  ASSERT_NE(held.port(), 0);
  const std::string bind = absl::StrCat("bind 127.0.0.1:", held.port(), ": ");
  // Control: in this namespace the port is taken.
  EXPECT_THAT(RunProbe("network_isolation_probe", "stay", held.port()),
              HasSubstr(bind + "Address already in use"));
  EXPECT_THAT(RunProbe("network_isolation_probe", "isolate", held.port()),
              AllOf(HasSubstr("startup: not attempted"),
                    HasSubstr("isolate: OK"), HasSubstr(bind + "ok")));
}

TEST(NetworkIsolationTest, TooLateOnceThreadsRunAndStaysInItsNamespace) {
  Listener held;
  ASSERT_NE(held.port(), 0);
  EXPECT_THAT(
      RunProbe("network_isolation_probe", "thread_then_isolate", held.port()),
      // Two threads at least (ThreadSanitizer adds one of its own).
      AllOf(HasSubstr("isolate: FAILED_PRECONDITION: "
                      "unshare(CLONE_NEWUSER|CLONE_NEWNET): "),
            HasSubstr(" threads run already"),
            HasSubstr(absl::StrCat("bind 127.0.0.1:", held.port(),
                                   ": Address already in use"))));
}

TEST(NetworkIsolationTest, TheMacroLibraryIsolatesBeforeMainUnlessOptedOut) {
  if (PermissionDenied()) GTEST_SKIP() << StartupNetworkIsolation().status;
  Listener held;
  ASSERT_NE(held.port(), 0);
  const std::string bind = absl::StrCat("bind 127.0.0.1:", held.port(), ": ");
  EXPECT_THAT(RunProbe("own_network_probe", "stay", held.port()),
              AllOf(HasSubstr("startup: isolated"), HasSubstr(bind + "ok")));
  for (const char* off : {"0", "false", "OFF"}) {
    EXPECT_THAT(RunProbe("own_network_probe", "stay", held.port(),
                         {absl::StrCat(kOwnNetworkEnv, "=", off)}),
                AllOf(HasSubstr("startup: opted out"),
                      HasSubstr(bind + "Address already in use")))
        << off;
  }
}

TEST(NetworkIsolationTest, PortInUseHintNamesTheCauseAndTheFixForEachKind) {
  const NetworkIsolation saved = StartupNetworkIsolation();
  struct Case {
    NetworkIsolation::Kind kind;
    const char* cause;
    const char* fix;
  };
  for (const Case& c : std::vector<Case>{
           {NetworkIsolation::Kind::kIsolated,
            "runs in a network namespace of its own",
            "something in this test does"},
           {NetworkIsolation::Kind::kOptedOut, "FAKE_TCP_SERVER_OWN_NETWORK=0",
            "drop the opt-out"},
           {NetworkIsolation::Kind::kUnavailable,
            "could not make a network namespace of its own (unshare: EPERM)",
            "per-action network isolation"},
           {NetworkIsolation::Kind::kNotAttempted,
            "not built with the fake_tcp_server_test() Bazel macro",
            "--spawn_strategy=standalone"},
       }) {
    NetworkIsolation isolation;
    isolation.kind = c.kind;
    isolation.status = absl::PermissionDeniedError("unshare: EPERM");
    SetStartupNetworkIsolation(isolation);
    EXPECT_THAT(PortInUseHint("127.0.0.1:9500"),
                AllOf(HasSubstr("127.0.0.1:9500"), HasSubstr(c.cause),
                      HasSubstr(c.fix), HasSubstr("options.server.port = 0")));
  }
  SetStartupNetworkIsolation(saved);
}

}  // namespace
}  // namespace fake_tcp::testing
