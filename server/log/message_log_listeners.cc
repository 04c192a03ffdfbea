// MessageLog's listeners: callbacks after every change, for event loops that
// follow the log without a thread blocked in Await().

#include <functional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "server/log/message_log.h"

namespace fake_tcp {

int MessageLog::AddListener(std::function<void()> listener) const {
  absl::MutexLock lock(&listeners_mu_);
  const int id = next_listener_id_++;
  listeners_.emplace_back(id, std::move(listener));
  has_listeners_.store(true, std::memory_order_release);
  return id;
}

void MessageLog::RemoveListener(int id) const {
  // Held while listeners run: once this returns, none of them is running.
  absl::MutexLock lock(&listeners_mu_);
  for (auto it = listeners_.begin(); it != listeners_.end(); ++it) {
    if (it->first == id) {
      listeners_.erase(it);
      break;
    }
  }
  has_listeners_.store(!listeners_.empty(), std::memory_order_release);
}

void MessageLog::NotifyListeners() const {
  // The I/O thread appends in batches; without listeners this is one load.
  if (!has_listeners_.load(std::memory_order_acquire)) return;
  absl::MutexLock lock(&listeners_mu_);
  for (const auto& [id, listener] : listeners_) listener();
}

}  // namespace fake_tcp
