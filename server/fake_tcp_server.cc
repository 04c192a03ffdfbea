#include "server/fake_tcp_server.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/base/errno_status.h"
#include "server/base/event_fd.h"
#include "server/base/net.h"
#include "server/base/unique_fd.h"
#include "server/descriptor_budget.h"
#include "server/io_loop.h"
#include "server/log/redactor.h"

namespace fake_tcp {
namespace {

void Wake(int wake_fd) { SignalEventFd(wake_fd); }

// "unix:/run/x.sock" when `options` listen on a Unix-domain socket, else "".
std::string UnixAddress(const ServerOptions& options) {
  return options.unix_socket.empty()
             ? ""
             : absl::StrCat("unix:", options.unix_socket);
}

// Binds and listens where `options` say: TCP, or a Unix-domain socket.
absl::StatusOr<BoundListener> Bind(const ServerOptions& options) {
  if (options.unix_socket.empty()) {
    return Listen(options.address, options.port, options.backlog);
  }
  absl::StatusOr<BoundListener> listener = ListenUnix(
      UnixAddress(options), options.backlog, options.unix_socket_mode);
  if (!listener.ok()) {
    return absl::Status(
        listener.status().code(),
        absl::StrCat("Start: unix_socket ", listener.status().message()));
  }
  return listener;
}

}  // namespace

FakeTcpServer::FakeTcpServer(ServerOptions options)
    : options_(std::move(options)),
      log_(options_.log_limits,
           Redactor::Create(options_.redact).value_or(nullptr)) {}

FakeTcpServer::~FakeTcpServer() { Stop(); }

absl::Status FakeTcpServer::Start() {
  absl::MutexLock lifecycle(&lifecycle_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (state_ != ListenerState::kNotStarted || io_thread_.joinable() ||
        stop_requested_) {
      return absl::FailedPreconditionError(
          absl::StrCat("Start: the server on ",
                       address_.empty() ? options_.address : address_,
                       " was already started; a server starts once"));
    }
    stop_requested_ = true;  // a second Start() fails even if this one does
  }
  if (absl::Status s = ValidateServerOptions(options_); !s.ok()) return s;

  absl::StatusOr<DescriptorBudget> budget =
      ConnectionBudget(options_.proxy.has_value());
  if (!budget.ok()) return budget.status();
  const size_t max_connections =
      std::min(options_.max_connections, budget->connections);
  std::string lowered;
  if (max_connections < options_.max_connections) {
    lowered = absl::StrCat("max_connections ", options_.max_connections,
                           " lowered to ", max_connections,
                           " to fit the descriptor limit (", budget->why, ")");
  }

  absl::StatusOr<BoundListener> listener = Bind(options_);
  if (!listener.ok()) return listener.status();
  UniqueFd wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake.ok()) return ErrnoStatus(errno, "Start: eventfd");
  absl::StatusOr<std::unique_ptr<IoLoop>> loop =
      IoLoop::Create(&options_, &log_, std::move(listener->fd), wake.get(),
                     [this] { return TakeWork(); });
  if (!loop.ok()) return loop.status();
  (*loop)->set_max_connections(max_connections);
  if (!lowered.empty()) {
    Event event;
    event.type = EventType::kConnectionLimit;
    event.peer = listener->address;
    event.time = absl::Now();
    event.detail = std::move(lowered);
    log_.Append(std::move(event));
  }

  {
    absl::MutexLock lock(&mu_);
    stop_requested_ = false;
    state_ = ListenerState::kAccepting;
    max_connections_ = max_connections;
    port_ = listener->port;
    address_ = listener->address;
    if (const TlsServerContext* tls = (*loop)->tls(); tls != nullptr) {
      tls_ca_pem_ = tls->ca_pem();
      tls_certificate_ = tls->certificate();
    }
    wake_fd_ = std::move(wake);
    loop_ = loop->get();
  }
  io_thread_ = std::thread([this, loop = *std::move(loop)] {
    {
      absl::MutexLock lock(&mu_);
      io_thread_id_ = std::this_thread::get_id();
    }
    loop->Run();
    // A later thread may get this id; it must not be taken for the I/O thread.
    absl::MutexLock lock(&mu_);
    io_thread_id_ = std::thread::id();
    loop_ = nullptr;  // destroyed once this returns
  });
  NotifyStateObservers();
  return absl::OkStatus();
}

void FakeTcpServer::Stop() {
  bool changed = false;
  bool on_io_thread = false;
  {
    absl::MutexLock lock(&mu_);
    on_io_thread = std::this_thread::get_id() == io_thread_id_;
    if (on_io_thread) {
      // Inside a callback on the I/O thread: joining here would deadlock, so
      // only ask the loop to end; wake_fd_ stays open until this thread is
      // joined.
      changed = state_ != ListenerState::kStopped;
      state_ = ListenerState::kStopped;
      stop_requested_ = true;
      Wake(wake_fd_.get());
    }
  }
  if (on_io_thread) {
    if (changed) NotifyStateObservers();
    return;
  }

  absl::MutexLock lifecycle(&lifecycle_mu_);
  {
    absl::MutexLock lock(&mu_);
    changed = state_ != ListenerState::kStopped &&
              state_ != ListenerState::kNotStarted;
    if (changed) state_ = ListenerState::kStopped;
    stop_requested_ = true;
  }
  // Observers (the health sidecar) see kStopped before any connection closes.
  if (changed) NotifyStateObservers();
  if (!io_thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    Wake(wake_fd_.get());
  }
  io_thread_.join();
  RemoveUnixSocketFile(UnixAddress(options_));
  absl::MutexLock lock(&mu_);
  wake_fd_.reset();
}

size_t FakeTcpServer::max_connections() const {
  absl::MutexLock lock(&mu_);
  return max_connections_;
}

bool FakeTcpServer::at_capacity() const {
  return log_.counts().open >= max_connections();
}

absl::Status FakeTcpServer::CheckRunningLocked(absl::string_view op) const {
  if (stop_requested_ || state_ == ListenerState::kNotStarted ||
      state_ == ListenerState::kStopped) {
    return absl::FailedPreconditionError(absl::StrCat(
        op, ": the server is not running (", ListenerStateName(state_), ")"));
  }
  return absl::OkStatus();
}

bool FakeTcpServer::EnqueueLocked(QueuedTask task) {
  const bool on_io_thread = std::this_thread::get_id() == io_thread_id_;
  if (on_io_thread) {
    // Queued; nobody waits for it or its count.
    task.result = nullptr;
    task.done = nullptr;
  }
  tasks_.push_back(std::move(task));
  Wake(wake_fd_.get());
  return on_io_thread;
}

IoWork FakeTcpServer::TakeWork() {
  IoWork work;
  absl::MutexLock lock(&mu_);
  work.tasks.swap(tasks_);
  work.stop = stop_requested_;
  return work;
}

absl::StatusOr<std::optional<int>> FakeTcpServer::RunOnIoThread(
    absl::string_view op, absl::AnyInvocable<int(IoLoop&)> task) {
  absl::Notification done;
  // Stays -1 if the task is dropped: the server stopped before it ran.
  int result = -1;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = CheckRunningLocked(op); !s.ok()) return s;
    if (EnqueueLocked(QueuedTask{std::move(task), &result, &done})) {
      return std::nullopt;
    }
  }
  done.WaitForNotification();
  if (result < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": the server stopped before it was done"));
  }
  return result;
}

absl::Status FakeTcpServer::ChangeListener(
    absl::string_view op, std::initializer_list<ListenerState> from,
    ListenerState to,
    absl::FunctionRef<
        absl::StatusOr<absl::AnyInvocable<int(IoLoop&)>>(ListenerState now)>
        make_task) {
  absl::Notification done;
  bool on_io_thread;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = CheckRunningLocked(op); !s.ok()) return s;
    if (state_ == to) return absl::OkStatus();
    if (std::find(from.begin(), from.end(), state_) == from.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat(op, ": the listener is ", ListenerStateName(state_)));
    }
    absl::StatusOr<absl::AnyInvocable<int(IoLoop&)>> task = make_task(state_);
    if (!task.ok()) return task.status();
    state_ = to;
    on_io_thread =
        EnqueueLocked(QueuedTask{*std::move(task), /*result=*/nullptr, &done});
  }
  if (!on_io_thread) done.WaitForNotification();
  NotifyStateObservers();
  return absl::OkStatus();
}

absl::Status FakeTcpServer::Send(uint64_t connection_id, Reply reply) {
  absl::StatusOr<std::optional<int>> sent = RunOnIoThread(
      absl::StrCat("Send to connection ", connection_id),
      [connection_id, reply = std::move(reply)](IoLoop& loop) mutable {
        return loop.Send(connection_id, std::move(reply));
      });
  if (!sent.ok()) return sent.status();
  if (*sent == 0) {
    return absl::NotFoundError(
        absl::StrCat("Send: connection ", connection_id, " is not open"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ConnectionInfo>> FakeTcpServer::Connections() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckRunningLocked("Connections"); !s.ok()) return s;
  // Running means loop_ is set: the loop ends (and the I/O thread clears
  // loop_, under mu_, before destroying it) only once a stop was requested,
  // and a server starts once. Holding mu_ keeps the loop alive meanwhile.
  return loop_->Connections();
}

absl::StatusOr<int> FakeTcpServer::Broadcast(Reply reply) {
  absl::StatusOr<std::optional<int>> sent = RunOnIoThread(
      "Broadcast", [reply = std::move(reply)](IoLoop& loop) mutable {
        return loop.Broadcast(std::move(reply));
      });
  if (!sent.ok()) return sent.status();
  return sent->value_or(0);
}

absl::StatusOr<int> FakeTcpServer::DropConnections(bool reset) {
  absl::StatusOr<std::optional<int>> dropped = RunOnIoThread(
      "DropConnections",
      [reset](IoLoop& loop) { return loop.DropConnections(reset); });
  if (!dropped.ok()) return dropped.status();
  return dropped->value_or(0);
}

absl::Status FakeTcpServer::SetResponder(Responder responder) {
  return RunOnIoThread(
             "SetResponder",
             [responder = std::move(responder)](IoLoop& loop) mutable {
               loop.SetResponder(std::move(responder));
               return 0;
             })
      .status();
}

absl::Status FakeTcpServer::PauseAccepting() {
  return ChangeListener(
      "PauseAccepting", {ListenerState::kAccepting}, ListenerState::kPaused,
      [](ListenerState) -> absl::StatusOr<absl::AnyInvocable<int(IoLoop&)>> {
        return [](IoLoop& loop) {
          loop.PauseAccepting();
          return 0;
        };
      });
}

absl::Status FakeTcpServer::StopAccepting() {
  return ChangeListener(
      "StopAccepting", {ListenerState::kAccepting, ListenerState::kPaused},
      ListenerState::kRefusing,
      [this](
          ListenerState) -> absl::StatusOr<absl::AnyInvocable<int(IoLoop&)>> {
        return [this](IoLoop& loop) {
          loop.CloseListener();
          // Gone with the listener, as a port that nobody listens on is.
          RemoveUnixSocketFile(UnixAddress(options_));
          return 0;
        };
      });
}

absl::Status FakeTcpServer::ResumeAccepting() {
  // Set once by Start(); the host and port to listen on again.
  const std::string address = this->address();
  return ChangeListener(
      "ResumeAccepting", {ListenerState::kPaused, ListenerState::kRefusing},
      ListenerState::kAccepting,
      [&](ListenerState now)
          -> absl::StatusOr<absl::AnyInvocable<int(IoLoop&)>> {
        UniqueFd fd;
        if (now == ListenerState::kRefusing) {
          // Listening again before this returns, as Start() does.
          absl::StatusOr<HostPort> bound = ParseHostPort(address);
          absl::StatusOr<BoundListener> listener =
              !options_.unix_socket.empty() ? Bind(options_)
              : bound.ok() ? Listen(bound->host, bound->port, options_.backlog)
                           : bound.status();
          if (!listener.ok()) {
            return absl::Status(
                listener.status().code(),
                absl::StrCat("ResumeAccepting: ", listener.status().message()));
          }
          fd = std::move(listener->fd);
        }
        return [fd = std::move(fd)](IoLoop& loop) mutable {
          loop.ResumeAccepting(std::move(fd));
          return 0;
        };
      });
}

int FakeTcpServer::AddStateObserver(std::function<void()> observer) {
  absl::MutexLock lock(&observers_mu_);
  const int id = next_observer_id_++;
  observer();
  observers_.emplace_back(id, std::move(observer));
  return id;
}

void FakeTcpServer::RemoveStateObserver(int id) {
  absl::MutexLock lock(&observers_mu_);
  for (auto it = observers_.begin(); it != observers_.end(); ++it) {
    if (it->first == id) {
      observers_.erase(it);
      return;
    }
  }
}

void FakeTcpServer::NotifyStateObservers() {
  absl::MutexLock lock(&observers_mu_);
  for (auto& [id, observer] : observers_) observer();
}

int FakeTcpServer::port() const {
  absl::MutexLock lock(&mu_);
  return port_;
}

std::string FakeTcpServer::tls_ca_pem() const {
  absl::MutexLock lock(&mu_);
  return tls_ca_pem_;
}

Certificate FakeTcpServer::tls_certificate() const {
  absl::MutexLock lock(&mu_);
  return tls_certificate_;
}

std::string FakeTcpServer::address() const {
  absl::MutexLock lock(&mu_);
  return address_;
}

ListenerState FakeTcpServer::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

}  // namespace fake_tcp
