#ifndef SERVER_CONTROL_EVENT_BASE_H_
#define SERVER_CONTROL_EVENT_BASE_H_

// The libevent loop of the control server and of its client.

#include <event2/event.h>

namespace fake_tcp {

// A new event_base (null if libevent fails) whose epoll backend coalesces the
// epoll_ctl calls of one loop iteration: evhttp turns a connection's reading
// off and on and its writing on and off around every request, four calls of
// which the changelist leaves two (the server's CPU per status call 15% lower,
// measured in tools/bench/README.md). No descriptor is dup()ed into the loop,
// which is the changelist's one caveat.
event_base* NewControlEventBase();

}  // namespace fake_tcp

#endif  // SERVER_CONTROL_EVENT_BASE_H_
