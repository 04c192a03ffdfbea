#ifndef TESTING_FIXTURE_OPTIONS_H_
#define TESTING_FIXTURE_OPTIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/health/health_sidecar.h"
#include "server/options/server_options.h"
#include "server/script.h"

namespace fake_tcp::testing {

// How a test's fake server runs.
struct FixtureOptions {
  FixtureOptions();

  // The fake: port 9500 by default (as code under test often hard-codes it);
  // set `server.port = 0` where tests do not run in their own network
  // namespace.
  ServerOptions server;
  // Its grpc.health.v1 endpoint (an ephemeral loopback port by default).
  HealthOptions health;
  // How long SetUp waits, on the health endpoint, for SERVING.
  absl::Duration ready_timeout = absl::Seconds(30);
  // The default deadline of the fixture's waits.
  absl::Duration wait_timeout = absl::Seconds(10);
  // Run //tools:fake_tcp_server as a child process instead of in this process:
  // for code under test that forks, or tests that must not share the process.
  // The child's log is streamed back and stays complete after it stops. Every
  // option of `server` reaches the child as a flag
  // (server/options/options_flags.h) except C++ code (a responder, custom
  // framing): Start() then fails naming it; use `script` or `extra_flags`
  // instead.
  bool out_of_process = false;
  // More flags for the child (out of process), e.g. {"--reply=OK\\n"}.
  std::vector<std::string> extra_flags;
  // Scripted replies and faults (server/script/script.proto), in or out of
  // process: its framing, greeting and faults override `server`'s.
  std::optional<Script> script;
};

}  // namespace fake_tcp::testing

#endif  // TESTING_FIXTURE_OPTIONS_H_
