#include "testing/server_test_util.h"

#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace fake_tcp::testing {

ServerOptions AnyPort() {
  ServerOptions options;
  options.port = 0;
  return options;
}

TcpClient MustConnect(const std::string& address) {
  absl::StatusOr<TcpClient> client =
      TcpClient::Connect(address, kSocketTimeout);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

TcpClient MustConnect(const FakeTcpServer& server) {
  return MustConnect(server.address());
}

std::string ReadN(TcpClient& client, size_t n) {
  absl::StatusOr<std::string> bytes = client.ReceiveExactly(n, kSocketTimeout);
  return bytes.ok() ? *bytes : bytes.status().ToString();
}

std::vector<EventType> TypesOf(const MessageLog& log, uint64_t id) {
  std::vector<EventType> out;
  for (const Event& e : log.Events()) {
    if (e.connection_id == id) out.push_back(e.type);
  }
  return out;
}

std::shared_ptr<ScriptedResponder> MakeResponder(const Script& script) {
  absl::StatusOr<std::shared_ptr<ScriptedResponder>> r =
      ScriptedResponder::Create(script);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : nullptr;
}

std::string Ask(ScriptedResponder& responder, absl::string_view message,
                uint64_t connection) {
  std::optional<Reply> reply =
      responder.Respond(ReceivedMessage{connection, "peer", message, 0});
  if (!reply.has_value() || reply->bytes.empty()) return "<none>";
  return reply->bytes;
}

}  // namespace fake_tcp::testing
