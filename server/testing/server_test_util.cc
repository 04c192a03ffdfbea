#include "server/testing/server_test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace fake_tcp::testing {

std::string ShortSocketPath(absl::string_view name) {
  static const std::string* const dir = [] {
    char templ[] = "/tmp/fake_tcp.XXXXXX";
    if (mkdtemp(templ) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << templ << ": " << strerror(errno);
      return new std::string("/tmp");
    }
    atexit([] { std::filesystem::remove_all(*dir); });
    return new std::string(templ);
  }();
  return absl::StrCat(*dir, "/", name);
}

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

RefusingPort::RefusingPort()
    : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (!fd_.ok() ||
      bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "RefusingPort: " << strerror(errno);
    return;
  }
  port_ = ntohs(addr.sin_port);
  address_ = absl::StrCat("127.0.0.1:", port_);
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
