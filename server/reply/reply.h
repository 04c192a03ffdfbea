#ifndef SERVER_REPLY_REPLY_H_
#define SERVER_REPLY_REPLY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fake_tcp {

// A message as the responder sees it. The views are valid only during the
// call.
struct ReceivedMessage {
  uint64_t connection_id = 0;
  // The client's address, "127.0.0.1:54321".
  absl::string_view peer;
  // The framed message.
  absl::string_view bytes;
  // 0 for the first message on this connection, then 1, ...
  uint64_t index = 0;
};

// What the server sends, and how: the bytes, shaped by the fault fields, then
// what happens to the connection. Every delay is a timer on the I/O thread:
// other connections are served meanwhile. Replies on one connection go out in
// order. PlanReply (reply_plan.h) says exactly which steps a Reply becomes.
struct Reply {
  // What happens after the bytes are sent.
  enum class Then {
    // The connection stays open.
    kNothing,
    // The server closes it (FIN).
    kClose,
    // The server resets it (RST, via SO_LINGER 0).
    kReset,
    // The server shuts down its write side; it still reads.
    kHalfClose,
    // Nothing more is ever sent on it; messages are still logged.
    kStall,
  };

  Reply() = default;
  Reply(std::string b) : bytes(std::move(b)) {}  // NOLINT: implicit by design
  Reply(const char* b) : bytes(b) {}             // NOLINT: implicit by design

  std::string bytes;
  // Wait this long before the first byte.
  absl::Duration delay = absl::ZeroDuration();
  // Send in pieces of this many bytes (0: in one piece), `slice_pause` apart.
  size_t slice_bytes = 0;
  absl::Duration slice_pause = absl::ZeroDuration();
  // Limit the rate (0: unlimited); the bytes go out in 20 pieces a second.
  int64_t bytes_per_second = 0;
  // Send only the first `send_only` bytes (then `then`); SIZE_MAX: all of them.
  size_t send_only = SIZE_MAX;
  Then then = Then::kNothing;
  // Wait this long after the bytes before `then` (a slow close).
  absl::Duration then_delay = absl::ZeroDuration();
  // Why this reply (e.g. `rule "get"`); kept in the log as the detail of the
  // received message it answers.
  std::string note;
};

// Returns "close", "reset", ... for logs and messages.
absl::string_view ThenName(Reply::Then then);

// Decides the reply to one message: a Reply (bytes and faults), or
// std::nullopt for no reply. Runs on the server's I/O thread: it must not
// block; it may call the server's commands, which are then queued and carried
// out after the current event (see FakeTcpServer).
using Responder =
    std::function<std::optional<Reply>(const ReceivedMessage& message)>;

}  // namespace fake_tcp

#endif  // SERVER_REPLY_REPLY_H_
