// Fuzzes script loading: the first byte chooses text format or JSON, the rest
// is the file. A script that loads must build a responder, and that responder
// must answer a few messages without crashing.

#include <stddef.h>
#include <stdint.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/script.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  const fake_tcp::ScriptFormat format = (data[0] & 1)
                                            ? fake_tcp::ScriptFormat::kJson
                                            : fake_tcp::ScriptFormat::kText;
  absl::StatusOr<fake_tcp::Script> script =
      fake_tcp::ParseScript(text, format, "fuzz");
  if (!script.ok()) return 0;
  absl::StatusOr<std::shared_ptr<fake_tcp::ScriptedResponder>> responder =
      fake_tcp::ScriptedResponder::Create(*script);
  if (!responder.ok()) abort();  // a valid script always builds
  uint64_t n = 0;
  for (absl::string_view message : {"", "PING", "GET key", "\x01\x02\xff"}) {
    (*responder)
        ->Respond(fake_tcp::ReceivedMessage{1, "127.0.0.1:1", message, n++});
  }
  (void)(*responder)->UnusedRules();
  (void)(*responder)->UnmatchedMessages();
  return 0;
}
