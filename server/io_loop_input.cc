// The input side of IoLoop: a connection's events, reading and framing its
// bytes, answering each message, and closing it.

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/framing/framing.h"
#include "server/io_loop.h"

namespace fake_tcp {
namespace {

// Input buffer capacity a connection keeps between messages.
constexpr size_t kKeptInputCapacity = 256 << 10;

}  // namespace

void IoLoop::HandleConnection(uint64_t id, uint32_t events) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;  // closed earlier in this batch
  Connection& conn = *it->second;
  if (conn.handshaking) {
    ContinueHandshake(conn, events);
    return;
  }
  if ((events & (EPOLLHUP | EPOLLERR)) && !conn.reading && !conn.writing) {
    // Reported whatever the interest, again and again until handled: a reset
    // while the connection reads nothing (its upstream still connecting, its
    // output waiting on a timer) must end it now, not spin.
    int error = 0;
    socklen_t len = sizeof(error);
    getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      Close(conn, EventType::kReset, strerror(error));
    } else if (!conn.peer_closed) {
      Read(conn);  // the end of the stream, and what came before it
    } else {
      Close(conn, EventType::kPeerClosed, "hung up", std::move(conn.input));
    }
    return;
  }
  // TLS wanted to write to go on reading.
  const bool read_again = conn.tls_want_write && (events & EPOLLOUT);
  if (read_again) conn.tls_want_write = false;
  if (events & EPOLLOUT) {
    if (!Pump(conn)) return;
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || read_again) {
    if (conn.reading) Read(conn);
  }
  if (tls_ != nullptr) DrainTls(id);
}

// Reads once (level-triggered epoll calls again while bytes remain), frames,
// replies.
void IoLoop::Read(Connection& conn) {
  size_t cap = read_buffer_.size();
  if (options_.framing.kind == Framing::Kind::kRaw) {
    cap = std::min(cap, options_.max_message_size);
  }
  std::string error;
  const ssize_t n = ReadSocket(conn, read_buffer_.data(), cap, &error);
  if (n == kWouldBlock) {
    UpdateInterest(conn);
    return;
  }
  if (n < 0) {
    Close(conn, EventType::kReset, std::move(error));
    return;
  }
  if (n == 0) {
    OnEof(conn);
    return;
  }
  const absl::string_view chunk(read_buffer_.data(), static_cast<size_t>(n));
  conn.received_bytes += chunk.size();
  // Draining: what comes after Stop() is not a message of this session.
  if (draining_ && conn.upstream == nullptr) return;
  // Proxy mode: the bytes go on as read; framing only cuts them for the log.
  if (conn.upstream != nullptr && !ForwardToUpstream(conn, chunk)) return;
  if (conn.input.empty() && options_.framing.kind == Framing::Kind::kRaw) {
    OnMessage(conn, chunk);  // the common case needs no copy into `input`
  } else {
    conn.input.append(chunk.data(), chunk.size());
    if (!Deframe(conn)) return;
  }
  Pump(conn);
}

// Takes every complete message off the front of `conn.input`. Returns false
// iff the connection was closed (bad framing).
bool IoLoop::Deframe(Connection& conn) {
  size_t offset = 0;
  conn.input_held = false;
  while (offset < conn.input.size()) {
    if (OutputFull(conn)) {
      // One read may hold thousands of messages: answering them all first
      // would queue every reply before the bound is looked at.
      conn.input_held = true;
      break;
    }
    const absl::string_view rest = absl::string_view(conn.input).substr(offset);
    absl::StatusOr<std::optional<Frame>> frame =
        NextFrame(options_.framing, rest, options_.max_message_size,
                  offset == 0 ? conn.input_searched : 0);
    if (!frame.ok()) {
      const EventType type =
          frame.status().code() == absl::StatusCode::kResourceExhausted
              ? EventType::kOversize
              : EventType::kFramingError;
      conn.input.erase(0, offset);
      // Replies to the good messages before the bad one still go out, if
      // they can without waiting; what cannot is named in the close event.
      if (!WriteNow(conn)) return false;
      Close(conn, type, std::string(frame.status().message()),
            std::move(conn.input));
      return false;
    }
    if (!frame->has_value()) {
      conn.input_searched = rest.size();
      break;
    }
    conn.input_searched = 0;
    const Frame& f = **frame;
    OnMessage(conn, rest.substr(f.payload_offset, f.payload_size));
    offset += f.consumed;
  }
  conn.input.erase(0, offset);
  // A big message grew the buffer: give the memory back once it is framed
  // (a thousand idle connections must not each keep a max_message_size).
  if (conn.input.capacity() > kKeptInputCapacity &&
      conn.input.size() <= kKeptInputCapacity / 2) {
    conn.input.shrink_to_fit();
  }
  return true;
}

void IoLoop::OnMessage(Connection& conn, absl::string_view bytes) {
  AddEvent(EventType::kReceived, conn.id, conn.peer, std::string(bytes), "");
  if (conn.upstream != nullptr || conn.close_when_done) {
    ++conn.messages;  // the upstream answers, or nobody does any more
    return;
  }
  const size_t received = pending_.size() - 1;
  std::optional<Reply> reply;
  if (responder_) {
    reply =
        responder_(ReceivedMessage{conn.id, conn.peer, bytes, conn.messages});
  } else if (reply_bytes_ != nullptr) {
    // The server's one reply, held once however many are pending.
    ++conn.messages;
    QueueShared(conn, Reply(), reply_bytes_);
    return;
  }
  ++conn.messages;
  if (reply.has_value() && !reply->note.empty()) {
    pending_[received].detail = std::move(reply->note);
  }
  if (reply.has_value()) Queue(conn, *std::move(reply));
}

void IoLoop::OnEof(Connection& conn) {
  conn.peer_closed = true;
  if (conn.upstream != nullptr) {
    // Passed on as a half-close; the connection ends when the upstream's
    // does.
    conn.upstream->shut_pending = true;
    if (FlushUpstream(conn)) UpdateInterest(conn);
    return;
  }
  if (conn.output.empty() && !conn.input_held) {
    Close(conn, EventType::kPeerClosed, "", std::move(conn.input));
    return;
  }
  // Finish the replies first; the close is logged when they are done.
  UpdateInterest(conn);
}

// Closes with a reset (RST) instead of a FIN.
void IoLoop::Reset(Connection& conn, std::string why) {
  linger l{1, 0};
  setsockopt(conn.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  Close(conn, EventType::kServerReset, std::move(why));
}

void IoLoop::Close(Connection& conn, EventType type, std::string detail,
                   std::string bytes) {
  if (conn.output_bytes > 0) {
    absl::StrAppend(&detail, detail.empty() ? "" : "; ",
                    conn.output_bytes.get(), " reply bytes unsent");
  }
  const uint64_t id = conn.id;
  {
    // Before `peer` is moved out: Connections() no longer reads it.
    absl::MutexLock lock(&directory_mu_);
    directory_.erase(id);
  }
  AddEvent(type, id, std::move(conn.peer), std::move(bytes), std::move(detail));
  // Logged before the peer can see the close.
  Publish();
  if (conn.tls != nullptr && !conn.handshaking &&
      type != EventType::kServerReset && type != EventType::kReset) {
    conn.tls->Shutdown();  // close_notify, then the FIN
  }
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn.fd, nullptr);
  if (draining_ && type == EventType::kServerClosed) {
    // Closing with unread input sends a reset, which can destroy replies the
    // peer has not read yet: send the FIN, then drop what is there.
    shutdown(conn.fd, SHUT_WR);
    for (int i = 0; i < 16 && recv(conn.fd, read_buffer_.data(),
                                   read_buffer_.size(), MSG_DONTWAIT) > 0;
         ++i) {
    }
  }
  close(conn.fd);
  connections_.erase(id);  // destroys `conn`
  // A descriptor is free: accept again at the end of this loop iteration.
  if (accept_backoff_) accept_retry_at_ = absl::InfinitePast();
}

}  // namespace fake_tcp
