#ifndef CLIENT_TCP_CLIENT_H_
#define CLIENT_TCP_CLIENT_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fake_tcp {

// A blocking TCP client in which every call has a deadline. Errors are
// absl::Status with canonical codes and name the peer: DEADLINE_EXCEEDED when
// the deadline passes, UNAVAILABLE for a refused connection or a reset,
// OUT_OF_RANGE for end of stream before the bytes asked for,
// FAILED_PRECONDITION when not connected.
//
// Not thread-safe: use one client from one thread at a time. Movable, not
// copyable; the destructor closes the socket.
//
//   const absl::Duration kTimeout = absl::Seconds(5);
//   absl::StatusOr<TcpClient> c = TcpClient::Connect("[::1]:9500", kTimeout);
//   if (c.ok() && c->SendAll("Hello, world", kTimeout).ok()) {
//     absl::StatusOr<std::string> reply = c->ReceiveExactly(8, kTimeout);
//   }
class TcpClient {
 public:
  // Connects to `address` ("127.0.0.1:9500", "[::1]:9500", "localhost:9500"),
  // trying each resolved address, or to a Unix-domain stream socket
  // ("unix:/tmp/x.sock", "unix:@name" for the abstract namespace), within
  // `timeout`.
  static absl::StatusOr<TcpClient> Connect(absl::string_view address,
                                           absl::Duration timeout);

  TcpClient(TcpClient&& other) noexcept;
  TcpClient& operator=(TcpClient&& other) noexcept;
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;
  ~TcpClient();

  // Sends every byte of `data` within `timeout`.
  absl::Status SendAll(absl::string_view data, absl::Duration timeout);
  // Returns exactly `n` bytes, waiting up to `timeout`; OUT_OF_RANGE if the
  // stream ends first (the bytes that did arrive are in the message).
  absl::StatusOr<std::string> ReceiveExactly(size_t n, absl::Duration timeout);
  // Returns the bytes up to and including the first `delimiter`, waiting up to
  // `timeout` and reading at most `max_bytes`; bytes after the delimiter are
  // kept for the next call.
  absl::StatusOr<std::string> ReceiveUntil(absl::string_view delimiter,
                                           absl::Duration timeout,
                                           size_t max_bytes = size_t{1} << 20);
  // Returns what has arrived (at least one byte), waiting up to `timeout` for
  // the first; OUT_OF_RANGE at end of stream.
  absl::StatusOr<std::string> ReceiveAvailable(absl::Duration timeout,
                                               size_t max_bytes = 65536);
  // Waits up to `timeout` for the peer to close: OK at end of stream
  // (discarding bytes that come before it), UNAVAILABLE on reset.
  absl::Status ReceiveEof(absl::Duration timeout);
  // Shuts down the write side (the peer reads end of stream); reading still
  // works.
  absl::Status ShutdownWrite();
  // Closes the socket now. With `reset`, the peer sees a reset (RST) instead of
  // a FIN.
  void Close(bool reset = false);

  bool connected() const { return fd_ >= 0; }
  // The peer as "127.0.0.1:9500".
  const std::string& peer() const { return peer_; }
  // The local end as "127.0.0.1:40000".
  const std::string& local() const { return local_; }

 private:
  TcpClient(int fd, std::string peer, std::string local);
  // Waits until `events` (POLLIN/POLLOUT) are ready or `deadline` passes.
  absl::Status WaitFor(short events, absl::Time deadline, absl::string_view op);
  // Reads once into `buffer_` (after waiting); OUT_OF_RANGE at end of stream.
  absl::Status ReadSome(absl::Time deadline, absl::string_view op);

  int fd_ = -1;
  std::string peer_;
  std::string local_;
  // Bytes read and not yet returned.
  std::string buffer_;
};

}  // namespace fake_tcp

#endif  // CLIENT_TCP_CLIENT_H_
