#ifndef TOOLS_CONTROL_FLAGS_H_
#define TOOLS_CONTROL_FLAGS_H_

// The standalone server's --control_* flags (server/control): whether they ask
// for the control API, and the API they ask for, started.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/control/control_server.h"
#include "server/control/control_service.h"
#include "server/fake_tcp_server.h"

namespace fake_tcp {

// True iff --control_address_file or --control_port asks for the control API.
bool ControlApiWanted();

// Starts the control API on `server` (not owned; must outlive it) as the
// flags say, with `service` (what it may do beyond the server), binding
// --control_address or else `default_address`, and writes
// --control_address_file. INVALID_ARGUMENT for flags it cannot serve (a
// non-loopback address without --control_allow_non_loopback); the error
// naming the flag for an address file it cannot write.
absl::StatusOr<std::unique_ptr<ControlServer>> StartControlApi(
    FakeTcpServer* server, const std::string& default_address,
    ControlServiceOptions service);

}  // namespace fake_tcp

#endif  // TOOLS_CONTROL_FLAGS_H_
