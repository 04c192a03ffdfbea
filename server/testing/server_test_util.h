#ifndef SERVER_TESTING_SERVER_TEST_UTIL_H_
#define SERVER_TESTING_SERVER_TEST_UTIL_H_

// Small helpers for the tests of the server, client and tools over real
// sockets (not for users' tests: the fixture in fake_tcp_server.h is).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "server/base/unique_fd.h"
#include "server/fake_tcp_server.h"
#include "server/log/message_log.h"
#include "server/options/server_options.h"
#include "server/script.h"

namespace fake_tcp::testing {

// Generous: bounds a hang, does not measure speed.
inline constexpr absl::Duration kSocketTimeout = absl::Seconds(30);

// Default ServerOptions on a free port (port 0).
ServerOptions AnyPort();

// Returns a fresh path for a Unix-domain socket file ("<dir>/<name>") in a
// directory made for this test binary under /tmp and removed at its exit. Not
// under TEST_TMPDIR: in Bazel's sandbox that path alone is often longer than
// the 107 bytes a socket path may have.
std::string ShortSocketPath(absl::string_view name);

// Returns a client connected to `address`. If it cannot connect within
// kSocketTimeout, fails the test with the error and ends the binary (there is
// no client to return).
TcpClient MustConnect(const std::string& address);
// MustConnect(server.address()).
TcpClient MustConnect(const FakeTcpServer& server);

// A loopback port nothing listens on, held while this lives: a socket is
// bound to it without listening, so connects are refused and no server
// started meanwhile (on port 0) gets the port.
class RefusingPort {
 public:
  RefusingPort();
  // "127.0.0.1:<port>".
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  UniqueFd fd_;
  int port_ = 0;
  std::string address_;
};

// Returns `n` bytes from `client`, or the error as text (so a failure reads
// well).
std::string ReadN(TcpClient& client, size_t n);

// Returns the types of the logged events of connection `id`, in order.
std::vector<EventType> TypesOf(const MessageLog& log, uint64_t id);

// Returns a responder for `script`; a test failure and null if it is invalid.
std::shared_ptr<ScriptedResponder> MakeResponder(const Script& script);

// Returns the reply bytes `responder` gives `message` (on connection
// `connection`), "<none>" for no reply.
std::string Ask(ScriptedResponder& responder, absl::string_view message,
                uint64_t connection = 1);

}  // namespace fake_tcp::testing

#endif  // SERVER_TESTING_SERVER_TEST_UTIL_H_
