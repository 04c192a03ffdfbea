#include "tools/control_flags.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tools/flags.h"

ABSL_FLAG(std::string, control_address_file, "",
          "Serve the control API (HTTP/1.1 + JSON, server/control) and write "
          "its address file here (atomically, mode 0600): JSON with \"url\" "
          "and \"token\".");
ABSL_FLAG(int, control_port, -1,
          "Serve the control API on this port (0: a free one); implied 0 by "
          "--control_address_file.");
ABSL_FLAG(std::string, control_address, "",
          "Address the control API binds (default: loopback of the "
          "listener's family).");
ABSL_FLAG(bool, control_allow_non_loopback, false,
          "Let --control_address be an address other machines can reach.");
ABSL_FLAG(int64_t, control_max_body_bytes, 1 << 20,
          "Control API: a larger request body is refused (413).");
ABSL_FLAG(int, control_max_connections, 64,
          "Control API: connections open at once (one more gets 503).");
ABSL_FLAG(int, control_max_waits, 64,
          "Control API: waits pending at once (one more gets 429).");
ABSL_FLAG(int, control_max_page, 1000, "Control API: log entries per page.");

namespace fake_tcp {

bool ControlApiWanted() {
  return !absl::GetFlag(FLAGS_control_address_file).empty() ||
         absl::GetFlag(FLAGS_control_port) >= 0;
}

absl::StatusOr<std::unique_ptr<ControlServer>> StartControlApi(
    FakeTcpServer* server, const std::string& default_address,
    ControlServiceOptions service) {
  ControlOptions options;
  options.address = absl::GetFlag(FLAGS_control_address).empty()
                        ? default_address
                        : absl::GetFlag(FLAGS_control_address);
  options.port = std::max(0, absl::GetFlag(FLAGS_control_port));
  options.allow_non_loopback = absl::GetFlag(FLAGS_control_allow_non_loopback);
  options.max_body_bytes = static_cast<size_t>(
      std::max<int64_t>(0, absl::GetFlag(FLAGS_control_max_body_bytes)));
  options.max_connections = absl::GetFlag(FLAGS_control_max_connections);
  options.max_pending_waits = absl::GetFlag(FLAGS_control_max_waits);
  options.service = std::move(service);
  options.service.max_page =
      static_cast<uint32_t>(std::max(1, absl::GetFlag(FLAGS_control_max_page)));
  auto control = std::make_unique<ControlServer>(server, std::move(options));
  if (absl::Status s = control->Start(); !s.ok()) return s;
  const std::string file = UserPath(absl::GetFlag(FLAGS_control_address_file));
  if (!file.empty()) {
    if (absl::Status s = control->WriteAddressFile(file); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("--control_address_file: ", s.message()));
    }
  }
  return control;
}

}  // namespace fake_tcp
