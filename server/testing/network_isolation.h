#ifndef SERVER_TESTING_NETWORK_ISOLATION_H_
#define SERVER_TESTING_NETWORK_ISOLATION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fake_tcp::testing {

// A test that binds a fixed port (127.0.0.1:9500) collides with every other
// test doing the same unless each runs in a network namespace of its own.
// linux-sandbox gives one (`block-network`); `--spawn_strategy=standalone`,
// the processwrapper sandbox and remote workers whose actions share the
// worker's network do not. So a test built with `fake_tcp_server_test()` makes
// its own before main() and before any thread starts
// (//server/testing:own_network does it from a static initializer): an
// unprivileged user namespace mapping the caller's own uid and gid (or, for
// root without user namespaces, a plain network namespace), a network namespace
// in it, and `lo` up. Children (an out-of-process fake) inherit it. Where the
// kernel or a seccomp profile forbids that, the test runs on in the namespace
// it has (such executors usually give each action its own container, hence its
// own network), and only a real collision fails, with a hint built from
// `StartupNetworkIsolation()`.
//
// Opt out (a test that must reach the outside network): the macro's
// `own_network = False`, or `FAKE_TCP_SERVER_OWN_NETWORK=0` in the test's
// environment (`--test_env=FAKE_TCP_SERVER_OWN_NETWORK=0`).

// What happened to this process's network at start.
struct NetworkIsolation {
  enum class Kind {
    // //server/testing:own_network is not linked into this binary.
    kNotAttempted,
    // The process runs in a network namespace of its own with only `lo`.
    kIsolated,
    // FAKE_TCP_SERVER_OWN_NETWORK=0 turned it off.
    kOptedOut,
    // The kernel refused; `status` says what was tried and why it failed.
    kUnavailable,
  };
  Kind kind = Kind::kNotAttempted;
  absl::Status status;

  // Returns one sentence for a human, e.g. "This test runs in a network
  // namespace of its own, made at start".
  std::string Describe() const;
};

// The environment variable that opts a test out ("0", "false", "no", "off").
inline constexpr char kOwnNetworkEnv[] = "FAKE_TCP_SERVER_OWN_NETWORK";

// Moves the calling process into a new network namespace (inside a new user
// namespace when the kernel allows it) and brings `lo` up. Must run before the
// process starts a second thread: the kernel refuses a user namespace to a
// multi-threaded process. Returns OK; FAILED_PRECONDITION if other threads
// already run ("unshare(CLONE_NEWUSER|CLONE_NEWNET): 3 threads run already;
// ..."); PERMISSION_DENIED if the kernel or a seccomp profile forbids
// namespaces; INTERNAL if the id maps or `lo` cannot be set up (the process may
// then be in the new namespaces with loopback down).
absl::Status EnterOwnNetworkNamespace();

// Returns what happened at start (kNotAttempted unless
// //server/testing:own_network is linked in). Thread-safe; constant once main()
// runs.
NetworkIsolation StartupNetworkIsolation();

// Records what happened at start; called once, by
// //server/testing:own_network's initializer, before main().
void SetStartupNetworkIsolation(NetworkIsolation isolation);

// Returns why `address` (e.g. "127.0.0.1:9500") may be in use and what fixes
// it for the executor this test runs on, for the error of a failed bind.
std::string PortInUseHint(const std::string& address);

// Returns the whole error of a fake server that cannot listen on `address`:
// "the fake server cannot listen on <address>: <why>. <PortInUseHint>".
std::string PortInUseMessage(const std::string& address, absl::string_view why);

}  // namespace fake_tcp::testing

#endif  // SERVER_TESTING_NETWORK_ISOLATION_H_
