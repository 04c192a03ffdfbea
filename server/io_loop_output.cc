// The output side of IoLoop: a Reply becomes planned steps (PlanReply) queued
// on its connection, carried out in order as the socket takes bytes and the
// timers fire.

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/io_loop.h"

namespace fake_tcp {
namespace {

// Queued output steps per connection past which it is not read from.
constexpr size_t kMaxPendingOps = 65536;

}  // namespace

// True iff no more replies may be queued on `conn` until the peer reads:
// unsent bytes past max_pending_output, or too many queued steps (each costs
// ~100 bytes however small its reply).
bool IoLoop::OutputFull(const Connection& conn) const {
  return conn.output_bytes > options_.max_pending_output ||
         conn.output.size() >= kMaxPendingOps;
}

// Turns `reply` into output ops on `conn`, with the server-wide faults.
void IoLoop::Queue(Connection& conn, Reply reply, bool latency) {
  if (conn.stalled) return;
  auto data = std::make_shared<const std::string>(std::move(reply.bytes));
  QueueShared(conn, reply, std::move(data), latency);
}

// Queue() for bytes held elsewhere (`reply.bytes` is not used).
void IoLoop::QueueShared(Connection& conn, const Reply& reply,
                         std::shared_ptr<const std::string> data,
                         bool latency) {
  if (conn.stalled) return;
  const ReplyShaping shaping{
      latency ? options_.reply_latency : absl::ZeroDuration(),
      options_.bytes_per_second};
  PlanReply(reply, data->size(), shaping, &plan_);
  for (const ReplyStep& step : plan_) {
    Op op;
    op.step = step;
    if (step.kind == ReplyStep::Kind::kWrite) {
      op.data = data;
      conn.output_bytes += step.size;
    }
    conn.output.push_back(std::move(op));
  }
}

// Carries out output ops until done, blocked (EAGAIN) or waiting on a timer,
// deframing held input as room frees. Returns false iff the connection was
// closed.
bool IoLoop::Pump(Connection& conn) {
  while (true) {
    if (!PumpOutput(conn)) return false;
    if (!conn.input_held || OutputFull(conn)) break;
    if (!Deframe(conn)) return false;
  }
  if (conn.output.empty() && !conn.input_held) {
    if (conn.peer_closed && conn.upstream == nullptr) {
      Close(conn, EventType::kPeerClosed, "", std::move(conn.input));
      return false;
    }
    if (conn.close_when_done) {
      Close(conn, EventType::kServerClosed, std::move(conn.close_why));
      return false;
    }
  }
  UpdateInterest(conn);
  return true;
}

// Carries out output ops until done, blocked (EAGAIN) or waiting on a timer.
// Returns false iff the connection was closed.
bool IoLoop::PumpOutput(Connection& conn) {
  while (!conn.output.empty()) {
    Op& op = conn.output.front();
    switch (op.step.kind) {
      case ReplyStep::Kind::kWrite:
        if (!WriteNow(conn)) return false;
        if (!conn.output.empty() &&
            conn.output.front().step.kind == ReplyStep::Kind::kWrite) {
          return true;  // the socket is full; EPOLLOUT resumes
        }
        break;
      case ReplyStep::Kind::kWait:
        if (!conn.waiting) {
          op.until = absl::Now() + op.step.wait;
          conn.waiting = true;
          timers_.emplace(op.until, conn.id);
        }
        return true;  // RunTimers pops it when due
      case ReplyStep::Kind::kThen: {
        const Reply::Then then = op.step.then;
        conn.output.pop_front();
        if (!DoThen(conn, then)) return false;
        break;
      }
    }
  }
  return true;
}

// Does a reply's `then` to `conn`. Returns false iff it closed the connection.
bool IoLoop::DoThen(Connection& conn, Reply::Then then) {
  std::string why = absl::StrCat("reply fault: ", ThenName(then));
  switch (then) {
    case Reply::Then::kNothing:
      return true;
    case Reply::Then::kClose:
      Close(conn, EventType::kServerClosed, std::move(why));
      return false;
    case Reply::Then::kReset:
      Reset(conn, std::move(why));
      return false;
    case Reply::Then::kHalfClose:
      if (conn.tls != nullptr) conn.tls->Shutdown();
      shutdown(conn.fd, SHUT_WR);
      conn.write_shut = true;
      AddEvent(EventType::kServerHalfClosed, conn.id, conn.peer, "",
               std::move(why));
      return true;
    case Reply::Then::kStall:
      conn.stalled = true;
      conn.output.clear();
      conn.output_bytes = 0;
      AddEvent(EventType::kStalled, conn.id, conn.peer, "", std::move(why));
      return true;
  }
  return true;
}

// Writes the leading kWrite ops until done or the socket would block. Returns
// false iff the connection was closed (a write error, or close_after_bytes).
bool IoLoop::WriteNow(Connection& conn) {
  if (conn.handshaking) return true;  // replies wait for the TLS handshake
  while (!conn.output.empty() &&
         conn.output.front().step.kind == ReplyStep::Kind::kWrite) {
    Op& op = conn.output.front();
    const size_t size = op.step.size;
    if (conn.write_shut || conn.stalled) {
      conn.output_bytes -= size - conn.output_offset;
      conn.output_offset = 0;
      conn.output.pop_front();
      continue;
    }
    size_t want = size - conn.output_offset;
    const size_t budget = options_.close_after_bytes > conn.sent_bytes
                              ? options_.close_after_bytes - conn.sent_bytes
                              : 0;
    want = std::min(want, budget);
    if (!op.logged) {
      op.logged = true;
      // Logged as sent before the peer can read it.
      // Only what the log keeps is copied: a reply of 100 MiB stays one.
      const size_t kept = std::min(want, MaxEntryBytes(log_.limits()));
      std::string detail = want < size ? "cut short by close_after_bytes" : "";
      if (kept < want) {
        absl::StrAppend(&detail, detail.empty() ? "" : "; ",
                        TrimmedNote(want, kept));
      }
      AddEvent(EventType::kSent, conn.id, conn.peer,
               std::string(op.bytes().substr(0, kept)), std::move(detail));
      Publish();
    }
    ssize_t n = 0;
    if (want > 0) {
      // Counted as sent before the write, so that whoever saw the peer get
      // these bytes finds them counted in Connections() (which does not wait
      // for this thread); what the write did not take is given back after it.
      conn.sent_bytes += want;
      conn.output_bytes -= want;
      std::string error;
      n = WriteSocket(conn, op.bytes().data() + conn.output_offset, want,
                      &error);
      const size_t untaken = want - (n > 0 ? static_cast<size_t>(n) : 0);
      conn.sent_bytes -= untaken;
      conn.output_bytes += untaken;
      if (n == kWouldBlock) return true;
      if (n < 0) {
        Close(conn, EventType::kReset, absl::StrCat("send: ", error));
        return false;
      }
    }
    conn.output_offset += static_cast<size_t>(n);
    if (conn.sent_bytes >= options_.close_after_bytes) {
      Close(conn, EventType::kServerClosed,
            absl::StrCat("close_after_bytes ", options_.close_after_bytes,
                         " reached"));
      return false;
    }
    if (conn.output_offset == size) {
      conn.output.pop_front();
      conn.output_offset = 0;
    }
  }
  return true;
}

// Reads unless the peer is gone or too many reply bytes wait; writes while a
// write is next.
void IoLoop::UpdateInterest(Connection& conn) {
  if (conn.upstream != nullptr) UpdateUpstreamInterest(conn);
  const bool stalled_handshake =
      conn.handshaking &&
      options_.tls->handshake_fault == TlsOptions::HandshakeFault::kStall;
  const bool reading =
      !stalled_handshake && !conn.peer_closed && !conn.input_held &&
      !OutputFull(conn) &&
      (conn.upstream == nullptr ||
       (conn.upstream->connected &&
        conn.upstream->pending() <= options_.max_pending_output));
  const bool writing =
      conn.tls_want_write ||
      (!conn.handshaking && !conn.output.empty() &&
       conn.output.front().step.kind == ReplyStep::Kind::kWrite);
  if (reading == conn.reading && writing == conn.writing) return;
  epoll_event ev{};
  ev.events = (reading ? EPOLLIN : 0) | (writing ? EPOLLOUT : 0);
  ev.data.u64 = conn.id;
  epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, conn.fd, &ev);
  conn.reading = reading;
  conn.writing = writing;
}

}  // namespace fake_tcp
