#include "server/reply/reply.h"

namespace fake_tcp {

absl::string_view ThenName(Reply::Then then) {
  switch (then) {
    case Reply::Then::kNothing:
      return "nothing";
    case Reply::Then::kClose:
      return "close";
    case Reply::Then::kReset:
      return "reset";
    case Reply::Then::kHalfClose:
      return "half-close";
    case Reply::Then::kStall:
      return "stall";
  }
  return "unknown";
}

}  // namespace fake_tcp
