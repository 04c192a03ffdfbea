#include "server/control/control_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <sys/random.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "server/base/file.h"
#include "server/base/net.h"
#include "server/control/control_codec.h"
#include "server/control/control_http.h"
#include "server/control/event_base.h"
#include "server/script/script_loader.h"

namespace fake_tcp {
namespace {

// 32 random bytes, in hex.
std::string RandomToken() {
  char bytes[32];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

// Compares in time that depends only on the lengths.
bool SameToken(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

bool IsLoopback(const std::string& address) {
  return address == "localhost" || address == "::1" ||
         absl::StartsWith(address, "127.");
}

const char* MethodName(evhttp_cmd_type method) {
  switch (method) {
    case EVHTTP_REQ_GET:
      return "GET";
    case EVHTTP_REQ_POST:
      return "POST";
    case EVHTTP_REQ_PUT:
      return "PUT";
    case EVHTTP_REQ_DELETE:
      return "DELETE";
    default:
      return "?";
  }
}

}  // namespace

ControlServer::ControlServer(FakeTcpServer* server, ControlOptions options)
    : server_(*server),
      options_(std::move(options)),
      token_(options_.token.empty() ? RandomToken() : options_.token),
      service_(server, options_.service) {}

ControlServer::~ControlServer() { Stop(); }

absl::Status ControlServer::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) {
    return absl::FailedPreconditionError("control API: Start called twice");
  }
  if (!options_.allow_non_loopback && !IsLoopback(options_.address)) {
    return absl::InvalidArgumentError(
        absl::StrCat("control API: ", options_.address,
                     " is not loopback; binding it needs allow_non_loopback "
                     "(--control_allow_non_loopback)"));
  }
  if (options_.max_connections < 1 || options_.max_pending_waits < 1 ||
      options_.max_body_bytes < 1) {
    return absl::InvalidArgumentError(
        "control API: max_connections, max_pending_waits and max_body_bytes "
        "must be at least 1");
  }
  absl::StatusOr<BoundListener> listener =
      Listen(options_.address, options_.port, 128);
  if (!listener.ok()) {
    return Named("control API", listener.status());
  }
  static const int threads = evthread_use_pthreads();
  (void)threads;
  base_ = NewControlEventBase();
  http_ = base_ == nullptr ? nullptr : evhttp_new(base_);
  if (base_ == nullptr || http_ == nullptr) {
    return absl::InternalError("control API: libevent could not start");
  }
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
  evhttp_set_max_body_size(http_,
                           static_cast<ev_ssize_t>(options_.max_body_bytes));
  evhttp_set_max_headers_size(http_, 64 << 10);
  const int64_t timeout_us = absl::ToInt64Microseconds(options_.io_timeout);
  const timeval tv{static_cast<time_t>(timeout_us / 1000000),
                   static_cast<suseconds_t>(timeout_us % 1000000)};
  evhttp_set_timeout_tv(http_, &tv);
  evhttp_set_gencb(http_, &ControlServer::OnRequest, this);
  if (evhttp_accept_socket_with_handle(http_, listener->fd.get()) == nullptr) {
    return absl::InternalError("control API: evhttp did not take the socket");
  }
  listener->fd.release();  // evhttp closes it
  log_changed_ =
      event_new(base_, -1, EV_PERSIST, &ControlServer::OnLogChanged, this);
  event_add(log_changed_, nullptr);
  // Appends come from the I/O thread: only a flag is read there unless a wait
  // is pending.
  log_listener_ = server_.log().AddListener([this] {
    if (waiting_.load(std::memory_order_acquire)) {
      event_active(log_changed_, EV_READ, 0);
    }
  });
  stop_ = event_new(
      base_, -1, 0,
      [](int, short, void* base) {
        event_base_loopbreak(static_cast<event_base*>(base));
      },
      base_);
  port_ = listener->port;
  url_ = absl::StrCat("http://", listener->address);
  started_ = true;
  thread_ = std::thread([base = base_] { event_base_dispatch(base); });
  return absl::OkStatus();
}

void ControlServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
  }
  server_.log().RemoveListener(log_listener_);
  event_active(stop_, EV_READ, 0);
  thread_.join();
  DropWaits();
  // Frees every connection and the requests still waiting on them.
  evhttp_free(http_);
  event_free(log_changed_);
  event_free(stop_);
  event_base_free(base_);
}

std::string ControlServer::url() const {
  absl::MutexLock lock(&mu_);
  return url_;
}

int ControlServer::port() const {
  absl::MutexLock lock(&mu_);
  return port_;
}

std::string ControlServer::AddressJson() const {
  control::AddressFile file;
  file.set_url(url());
  file.set_token(token_);
  file.set_port(port());
  file.set_tcp_address(server_.address());
  file.set_health_address(options_.service.health_address);
  return ControlJson(file);
}

absl::Status ControlServer::WriteAddressFile(const std::string& path) const {
  return WriteFileAtomically(path, AddressJson(), 0600);
}

size_t ControlServer::pending_waits() const {
  absl::MutexLock lock(&mu_);
  return waits_.size();
}

bool ControlServer::AwaitPendingWaits(size_t n, absl::Duration timeout) const {
  struct Exactly {
    const std::vector<std::unique_ptr<Wait>>* waits;
    size_t n;
    bool operator()() const { return waits->size() == n; }
  };
  absl::MutexLock lock(&mu_);
  Exactly exactly{&waits_, n};
  return mu_.AwaitWithTimeout(absl::Condition(&exactly, &Exactly::operator()),
                              timeout);
}

void ControlServer::OnRequest(evhttp_request* req, void* self) {
  static_cast<ControlServer*>(self)->Handle(req);
}

void ControlServer::OnConnectionClosed(evhttp_connection* conn, void* self) {
  static_cast<ControlServer*>(self)->connections_.erase(conn);
}

void ControlServer::Handle(evhttp_request* req) {
  evhttp_connection* conn = evhttp_request_get_connection(req);
  if (!connections_.contains(conn)) {
    if (connections_.size() >= static_cast<size_t>(options_.max_connections)) {
      evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                        "close");
      AnswerStatus(req, absl::UnavailableError(
                            absl::StrCat("control API: ", connections_.size(),
                                         " connections open already "
                                         "(--control_max_connections)")));
      return;
    }
    connections_.insert(conn);
    evhttp_connection_set_closecb(conn, &ControlServer::OnConnectionClosed,
                                  this);
  }
  const evhttp_cmd_type method = evhttp_request_get_command(req);
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = evhttp_uri_get_path(uri);
  const char* raw_query = evhttp_uri_get_query(uri);
  const std::string path = raw_path == nullptr ? "" : raw_path;
  const std::string query = raw_query == nullptr ? "" : raw_query;
  const std::string op = absl::StrCat(MethodName(method), " ", path);

  const char* auth = evhttp_find_header(evhttp_request_get_input_headers(req),
                                        "Authorization");
  absl::string_view presented = auth == nullptr ? "" : auth;
  if (!absl::ConsumePrefix(&presented, "Bearer ") ||
      !SameToken(presented, token_)) {
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "WWW-Authenticate", "Bearer");
    AnswerStatus(
        req, absl::UnauthenticatedError(absl::StrCat(
                 op, ": ",
                 auth == nullptr ? "no Authorization header" : "wrong token",
                 " (Authorization: Bearer <token from the control "
                 "address file>)")));
    return;
  }
  evbuffer* in = evhttp_request_get_input_buffer(req);
  const size_t size = evbuffer_get_length(in);
  const std::string body(reinterpret_cast<const char*>(evbuffer_pullup(in, -1)),
                         size);

  auto reply = [&](const absl::StatusOr<std::string>& answer) {
    if (answer.ok()) {
      Answer(req, 200, *answer);
    } else {
      AnswerStatus(req, Named(op, answer.status()));
    }
  };
  auto done = [&](const absl::Status& s) -> absl::StatusOr<std::string> {
    if (!s.ok()) return s;
    return std::string("{}\n");
  };
  // Parses the body into a request of type T, or answers 400.
  auto parse = [&](auto* request) {
    absl::Status s = ParseControlJson(body, op, request);
    if (!s.ok()) AnswerStatus(req, s);
    return s.ok();
  };

  const bool get = method == EVHTTP_REQ_GET;
  const bool post = method == EVHTTP_REQ_POST;
  const bool put = method == EVHTTP_REQ_PUT;
  if (get && path == "/v1/status") {
    control::Status status = service_.GetStatus();
    status.set_pending_waits(static_cast<uint32_t>(pending_waits()));
    status.set_max_pending_waits(
        static_cast<uint32_t>(options_.max_pending_waits));
    reply(ControlJson(status));
  } else if (get && path == "/v1/log") {
    absl::StatusOr<control::LogQuery> q = LogQueryFromParameters(query);
    if (!q.ok()) return AnswerStatus(req, q.status());
    if (!q->has_wait()) return reply(json(service_.ReadLog(*q)));
    const absl::Duration timeout =
        std::min(DurationFromProto(q->wait()), options_.service.max_wait);
    StartWait(req, op, timeout, LogPoll(*q));
  } else if (post && path == "/v1/wait") {
    control::WaitRequest request;
    if (!parse(&request)) return;
    absl::Duration timeout;
    absl::StatusOr<Poll> poll = WaitPoll(request, &timeout);
    if (!poll.ok()) return AnswerStatus(req, Named(op, poll.status()));
    StartWait(req, op, timeout, *std::move(poll));
  } else if (post && path == "/v1/broadcast") {
    control::SendRequest request;
    if (parse(&request)) reply(json(service_.Broadcast(request)));
  } else if (post && path == "/v1/connections:close") {
    control::CloseRequest request;
    if (parse(&request)) reply(json(service_.Close(0, request)));
  } else if (post && absl::StartsWith(path, "/v1/connections/")) {
    absl::string_view rest = absl::StripPrefix(path, "/v1/connections/");
    const size_t slash = rest.find('/');
    uint64_t id = 0;
    const absl::string_view verb =
        slash == absl::string_view::npos ? "" : rest.substr(slash + 1);
    if (slash == absl::string_view::npos ||
        !absl::SimpleAtoi(rest.substr(0, slash), &id) || id == 0 ||
        (verb != "send" && verb != "close")) {
      return AnswerStatus(
          req, absl::NotFoundError(absl::StrCat(
                   op,
                   ": no such path (POST /v1/connections/{id}/send or "
                   "/close, id from 1)")));
    }
    if (verb == "send") {
      control::SendRequest request;
      if (parse(&request)) reply(json(service_.Send(id, request)));
    } else {
      control::CloseRequest request;
      if (parse(&request)) reply(json(service_.Close(id, request)));
    }
  } else if (post && absl::StartsWith(path, "/v1/listener:")) {
    reply(done(service_.Listener(
        std::string(absl::StripPrefix(path, "/v1/listener:")))));
  } else if ((put && path == "/v1/script") ||
             (post && path == "/v1/script/rules")) {
    control::ScriptRequest request;
    if (parse(&request)) reply(done(service_.SetScript(request, post)));
  } else if (put && path == "/v1/reply") {
    control::ReplyRequest request;
    if (parse(&request)) reply(done(service_.SetReply(request)));
  } else if ((post && path == "/v1/log:clear") ||
             (method == EVHTTP_REQ_DELETE && path == "/v1/log")) {
    reply(done(service_.Clear()));
  } else if (post && path == "/v1/reset") {
    control::ResetRequest request;
    if (parse(&request)) reply(json(service_.Reset(request)));
  } else if (post && path == "/v1/transcript") {
    reply(json(service_.Transcript()));
  } else if (post && path == "/v1/recording") {
    reply(json(service_.Recording()));
  } else if (post && path == "/v1/shutdown") {
    if (!options_.service.shutdown) {
      return AnswerStatus(req, Named(op, service_.Shutdown()));
    }
    // Once the answer is written: the client knows the fake is going.
    evhttp_request_set_on_complete_cb(
        req,
        [](evhttp_request*, void* self) {
          (void)static_cast<ControlServer*>(self)->service_.Shutdown();
        },
        this);
    Answer(req, 200, "{}\n");
  } else {
    AnswerStatus(req, absl::NotFoundError(absl::StrCat(
                          op,
                          ": no such path (see GET /v1/status; the "
                          "paths are in server/control/README.md)")));
  }
}

}  // namespace fake_tcp
