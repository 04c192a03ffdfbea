#include "server/control/event_base.h"

#include <event2/event.h>

namespace fake_tcp {

event_base* NewControlEventBase() {
  event_config* config = event_config_new();
  if (config == nullptr) return nullptr;
  event_config_set_flag(config, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  event_base* base = event_base_new_with_config(config);
  event_config_free(config);
  return base;
}

}  // namespace fake_tcp
