// Events on their own: their names, and how they and their bytes are shown.

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/log/message_log.h"

namespace fake_tcp {

absl::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAccepted:
      return "accepted";
    case EventType::kReceived:
      return "received";
    case EventType::kSent:
      return "sent";
    case EventType::kPeerClosed:
      return "closed by peer";
    case EventType::kReset:
      return "reset";
    case EventType::kServerClosed:
      return "closed by server";
    case EventType::kOversize:
      return "oversize";
    case EventType::kFramingError:
      return "framing error";
    case EventType::kConnectionLimit:
      return "connection limit";
    case EventType::kServerReset:
      return "reset by server";
    case EventType::kServerHalfClosed:
      return "half-closed by server";
    case EventType::kStalled:
      return "stalled";
    case EventType::kUpstream:
      return "upstream";
    case EventType::kTls:
      return "tls";
  }
  return "unknown";
}

bool IsCloseEvent(EventType type) {
  switch (type) {
    case EventType::kPeerClosed:
    case EventType::kReset:
    case EventType::kServerClosed:
    case EventType::kOversize:
    case EventType::kFramingError:
    case EventType::kConnectionLimit:
    case EventType::kServerReset:
      return true;
    case EventType::kAccepted:
    case EventType::kReceived:
    case EventType::kSent:
    case EventType::kServerHalfClosed:
    case EventType::kStalled:
    case EventType::kUpstream:
    case EventType::kTls:
      return false;
  }
  return false;
}

std::string FormatBytes(absl::string_view bytes, size_t max_bytes) {
  const absl::string_view shown = bytes.substr(0, max_bytes);
  size_t binary = 0;
  for (char c : shown) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!absl::ascii_isprint(u) && c != '\n' && c != '\r' && c != '\t') {
      ++binary;
    }
  }
  std::string out;
  if (binary * 4 > shown.size()) {
    out = "hex:";
    for (char c : shown) {
      absl::StrAppend(&out,
                      absl::StrFormat(" %02x", static_cast<unsigned char>(c)));
    }
  } else {
    out = absl::StrCat("\"", absl::CHexEscape(shown), "\"");
  }
  if (shown.size() < bytes.size()) {
    absl::StrAppend(&out, " ... (", bytes.size(), " bytes)");
  }
  return out;
}

std::string Event::ToString(absl::Time origin) const {
  std::string out = absl::StrCat("#", sequence, " ");
  if (origin != absl::InfinitePast()) {
    absl::StrAppend(
        &out, absl::StrFormat("+%.6fs ", absl::ToDoubleSeconds(time - origin)));
  }
  absl::StrAppend(&out, "conn ", connection_id, " ", peer, " ",
                  EventTypeName(type));
  if (type == EventType::kReceived || type == EventType::kSent ||
      !bytes.empty()) {
    absl::StrAppend(&out, " ", bytes.size(), " bytes ", FormatBytes(bytes));
  }
  if (!detail.empty()) absl::StrAppend(&out, " (", detail, ")");
  return out;
}

MessageLog::MessageLog(LogLimits limits,
                       std::shared_ptr<const Redactor> redactor)
    : limits_(limits), redactor_(std::move(redactor)) {
  absl::MutexLock lock(&mu_);
  origin_ = absl::Now();
}

}  // namespace fake_tcp
