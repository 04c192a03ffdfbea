// How many connections a server can hold within the process's descriptor limit.
//
// A server whose max_connections exceeds what RLIMIT_NOFILE leaves would run
// out of descriptors mid-test, where accept() fails and clients wait in the
// backlog. Start() lowers the cap to this budget instead, and says so in the
// log.

#ifndef FAKE_TCP_SERVER_SERVER_DESCRIPTOR_BUDGET_H_
#define FAKE_TCP_SERVER_SERVER_DESCRIPTOR_BUDGET_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace fake_tcp {

// Descriptors kept out of the budget: the health and control endpoints and
// their clients, the transcript, event log and recording files, TLS, and the
// spare the I/O loop holds to refuse clients when descriptors run out anyway.
inline constexpr size_t kReservedDescriptors = 32;

struct DescriptorBudget {
  // Connections that fit; SIZE_MAX when RLIMIT_NOFILE is unlimited.
  size_t connections = 0;
  // The numbers behind it: "RLIMIT_NOFILE 1024, 9 open, 32 reserved".
  std::string why;
};

// The soft RLIMIT_NOFILE less the descriptors open now (counted in
// /proc/self/fd) and kReservedDescriptors, halved when each connection also
// holds an upstream one
// (`proxy`). FAILED_PRECONDITION when that leaves no room for one connection.
absl::StatusOr<DescriptorBudget> ConnectionBudget(bool proxy);

}  // namespace fake_tcp

#endif  // FAKE_TCP_SERVER_SERVER_DESCRIPTOR_BUDGET_H_
