// The socket side of IoLoop's connections: plain reads and writes, or TLS
// (options.tls) with its handshake and handshake faults.

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/io_loop.h"

namespace fake_tcp {

ssize_t IoLoop::ReadSocket(Connection& conn, char* buffer, size_t capacity,
                           std::string* error) {
  if (conn.tls == nullptr) {
    while (true) {
      const ssize_t n = read(conn.fd, buffer, capacity);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return kWouldBlock;
      *error = strerror(errno);
      return kFailed;
    }
  }
  size_t n = 0;
  switch (conn.tls->Read(buffer, capacity, &n, error)) {
    case TlsSession::Io::kDone:
      return static_cast<ssize_t>(n);
    case TlsSession::Io::kWantRead:
      return kWouldBlock;
    case TlsSession::Io::kWantWrite:
      conn.tls_want_write = true;
      return kWouldBlock;
    case TlsSession::Io::kClosed:
      return 0;
    case TlsSession::Io::kError:
      *error = absl::StrCat("TLS: ", *error);
      return kFailed;
  }
  return kFailed;
}

ssize_t IoLoop::WriteSocket(Connection& conn, const char* data, size_t size,
                            std::string* error) {
  if (conn.tls == nullptr) {
    while (true) {
      const ssize_t n = send(conn.fd, data, size, MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return kWouldBlock;
      *error = strerror(errno);
      return kFailed;
    }
  }
  size_t n = 0;
  switch (conn.tls->Write(data, size, &n, error)) {
    case TlsSession::Io::kDone:
      return static_cast<ssize_t>(n);
    case TlsSession::Io::kWantRead:
    case TlsSession::Io::kWantWrite:
      return kWouldBlock;
    case TlsSession::Io::kClosed:
      *error = "TLS: the peer ended the session";
      return kFailed;
    case TlsSession::Io::kError:
      *error = absl::StrCat("TLS: ", *error);
      return kFailed;
  }
  return kFailed;
}

void IoLoop::StartTls(Connection& conn) {
  conn.tls = tls_->NewSession(conn.fd);
  if (conn.tls == nullptr) {
    Close(conn, EventType::kServerClosed, "TLS: SSL_new failed");
    return;
  }
  conn.handshaking = true;
  UpdateInterest(conn);  // a stalled handshake reads nothing
}

void IoLoop::ContinueHandshake(Connection& conn, uint32_t events) {
  switch (options_.tls->handshake_fault) {
    case TlsOptions::HandshakeFault::kNone:
    case TlsOptions::HandshakeFault::kFail:
      break;
    case TlsOptions::HandshakeFault::kStall:
      // Nothing is read; only the client's reset ends it early.
      if (events & (EPOLLHUP | EPOLLERR)) {
        Close(conn, EventType::kReset, "during a stalled TLS handshake");
      }
      return;
    case TlsOptions::HandshakeFault::kClose: {
      char hello[4096];
      while (read(conn.fd, hello, sizeof(hello)) > 0) {
      }
      Close(conn, EventType::kServerClosed, "TLS handshake fault: close");
      return;
    }
  }
  std::string error;
  switch (conn.tls->Handshake(&error)) {
    case TlsSession::Io::kDone: {
      conn.handshaking = false;
      conn.tls_want_write = false;
      AddEvent(EventType::kTls, conn.id, conn.peer, "", conn.tls->Describe());
      const uint64_t id = conn.id;
      if (!Begin(conn)) return;
      UpdateInterest(conn);
      DrainTls(id);
      return;
    }
    case TlsSession::Io::kWantRead:
      conn.tls_want_write = false;
      UpdateInterest(conn);
      return;
    case TlsSession::Io::kWantWrite:
      conn.tls_want_write = true;
      UpdateInterest(conn);
      return;
    case TlsSession::Io::kClosed:
      Close(conn, EventType::kPeerClosed, "during the TLS handshake");
      return;
    case TlsSession::Io::kError:
      Close(conn, EventType::kServerClosed,
            options_.tls->handshake_fault == TlsOptions::HandshakeFault::kFail
                ? std::string("TLS handshake fault: fail (handshake_failure "
                              "alert)")
                : absl::StrCat("TLS handshake failed: ", error));
      return;
  }
}

void IoLoop::DrainTls(uint64_t id) {
  while (true) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection& conn = *it->second;
    if (!conn.reading || conn.handshaking || conn.tls == nullptr ||
        !conn.tls->HasPending()) {
      return;
    }
    Read(conn);
  }
}

}  // namespace fake_tcp
