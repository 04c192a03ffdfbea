// ControlServer's pending requests (POST /v1/wait, GET /v1/log?wait=): kept on
// the evhttp thread, polled after each change of the log (its listener makes
// an event active), answered when they can be or at their deadline. No thread
// per wait: a message that meets a wait is answered from the evhttp thread as
// soon as the I/O thread has logged it.

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/control/control_http.h"
#include "server/control/control_server.h"

namespace fake_tcp {

void ControlServer::StartWait(evhttp_request* req, std::string op,
                              absl::Duration timeout, Poll poll) {
  {
    absl::MutexLock lock(&mu_);
    if (waits_.size() >= static_cast<size_t>(options_.max_pending_waits)) {
      AnswerStatus(req, absl::ResourceExhaustedError(absl::StrCat(
                            op, ": ", waits_.size(),
                            " waits pending already (--control_max_waits)")));
      return;
    }
  }
  if (std::optional<absl::StatusOr<std::string>> now = poll(false);
      now.has_value()) {
    if (now->ok()) {
      Answer(req, 200, **now);
    } else {
      AnswerStatus(req, Named(op, now->status()));
    }
    return;
  }
  auto wait = std::make_unique<Wait>();
  wait->server = this;
  wait->req = req;
  wait->op = std::move(op);
  wait->poll = std::move(poll);
  const int fd = bufferevent_getfd(
      evhttp_connection_get_bufferevent(evhttp_request_get_connection(req)));
  wait->peer_gone =
      event_new(base_, fd, EV_CLOSED, &ControlServer::OnPeerGone, wait.get());
  event_add(wait->peer_gone, nullptr);
  wait->deadline = evtimer_new(base_, &ControlServer::OnDeadline, wait.get());
  const int64_t us = absl::ToInt64Microseconds(timeout);
  const timeval tv{static_cast<time_t>(us / 1000000),
                   static_cast<suseconds_t>(us % 1000000)};
  evtimer_add(wait->deadline, &tv);
  absl::MutexLock lock(&mu_);
  waits_.push_back(std::move(wait));
  waiting_.store(true, std::memory_order_release);
  // A change logged between the poll above and the flag is not missed.
  event_active(log_changed_, EV_READ, 0);
}

void ControlServer::EndWait(Wait* wait,
                            const absl::StatusOr<std::string>& answer) {
  std::unique_ptr<Wait> owned;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = waits_.begin(); it != waits_.end(); ++it) {
      if (it->get() == wait) {
        owned = std::move(*it);
        waits_.erase(it);
        break;
      }
    }
    waiting_.store(!waits_.empty(), std::memory_order_release);
  }
  if (owned == nullptr) return;
  event_free(owned->peer_gone);
  event_free(owned->deadline);
  // A client that went away gets the answer too: evhttp frees the request
  // whether or not it can still write it.
  if (answer.ok()) {
    Answer(owned->req, 200, *answer);
  } else {
    AnswerStatus(owned->req, Named(owned->op, answer.status()));
  }
}

void ControlServer::PollWaits() {
  std::vector<Wait*> waits;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& wait : waits_) waits.push_back(wait.get());
  }
  // Only this thread adds or ends waits: the pointers stay valid here.
  for (Wait* wait : waits) {
    if (std::optional<absl::StatusOr<std::string>> answer = wait->poll(false);
        answer.has_value()) {
      EndWait(wait, *answer);
    }
  }
}

void ControlServer::DropWaits() {
  std::vector<std::unique_ptr<Wait>> waits;
  {
    absl::MutexLock lock(&mu_);
    waits.swap(waits_);
    waiting_.store(false, std::memory_order_release);
  }
  for (auto& wait : waits) {
    event_free(wait->peer_gone);
    event_free(wait->deadline);
  }
}

void ControlServer::OnLogChanged(int, short, void* self) {
  static_cast<ControlServer*>(self)->PollWaits();
}

void ControlServer::OnPeerGone(int, short, void* arg) {
  Wait* wait = static_cast<Wait*>(arg);
  wait->server->EndWait(wait, absl::CancelledError("the client went away"));
}

void ControlServer::OnDeadline(int, short, void* arg) {
  Wait* wait = static_cast<Wait*>(arg);
  std::optional<absl::StatusOr<std::string>> answer = wait->poll(true);
  wait->server->EndWait(
      wait, answer.value_or(absl::InternalError("a wait without an answer")));
}

ControlServer::Poll ControlServer::LogPoll(control::LogQuery query) {
  query.clear_wait();  // each poll reads what is there now
  uint64_t dropped = 0;
  return [this, query, dropped](
             bool final) mutable -> std::optional<absl::StatusOr<std::string>> {
    absl::StatusOr<control::LogPage> page = service_.ReadLog(query);
    if (!page.ok()) return page.status();
    dropped += page->dropped();
    if (page->entries_size() > 0 || final || server_.log().finished()) {
      page->set_dropped(dropped);
      return json(page);
    }
    // Nothing that matches yet: the next poll starts past what was read.
    query.set_after(page->next_after());
    return std::nullopt;
  };
}

absl::StatusOr<ControlServer::Poll> ControlServer::WaitPoll(
    const control::WaitRequest& request, absl::Duration* timeout) {
  absl::StatusOr<std::unique_ptr<WaitInProgress>> wait =
      service_.BeginWait(request);
  if (!wait.ok()) return wait.status();
  *timeout = (*wait)->timeout();
  std::shared_ptr<WaitInProgress> shared = *std::move(wait);
  return Poll(
      [shared](bool final) -> std::optional<absl::StatusOr<std::string>> {
        if (shared->Check() || final) {
          return json(absl::StatusOr<control::WaitResult>(shared->Result()));
        }
        return std::nullopt;
      });
}

}  // namespace fake_tcp
