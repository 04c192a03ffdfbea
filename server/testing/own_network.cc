// Linked into every test made by fake_tcp_server_test() (alwayslink): moves the
// test process into a network namespace of its own before main() and before
// any thread starts. See server/testing/network_isolation.h.

#include <stdio.h>
#include <stdlib.h>

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "server/testing/network_isolation.h"

namespace fake_tcp::testing {
namespace {

bool OptedOut() {
  const char* value = getenv(kOwnNetworkEnv);
  if (value == nullptr) return false;
  const std::string v = absl::AsciiStrToLower(value);
  return v == "0" || v == "false" || v == "no" || v == "off";
}

// Runs before the default-priority initializers of this binary (and so before
// any of them can start a thread).
__attribute__((constructor(101))) void IsolateNetworkAtStart() {
  NetworkIsolation isolation;
  if (OptedOut()) {
    isolation.kind = NetworkIsolation::Kind::kOptedOut;
  } else if (absl::Status s = EnterOwnNetworkNamespace(); s.ok()) {
    isolation.kind = NetworkIsolation::Kind::kIsolated;
  } else {
    isolation.kind = NetworkIsolation::Kind::kUnavailable;
    isolation.status = s;
    fprintf(stderr,
            "fake_tcp_server_test: no network namespace of its own (%s); "
            "running in the one it was started in\n",
            std::string(s.message()).c_str());
  }
  SetStartupNetworkIsolation(std::move(isolation));
}

}  // namespace
}  // namespace fake_tcp::testing
