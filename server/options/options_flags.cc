#include "server/options/options_flags.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace fake_tcp {
namespace {

// One flag: how to write its field, and how to read it back.
struct OptionFlag {
  std::string name;
  // Returns the value to write, or an error for a value with no spelling.
  std::function<absl::StatusOr<std::string>(const ServerOptions&)> write;
  std::function<absl::Status(absl::string_view, ServerOptions*)> read;
};

absl::Status Bad(absl::string_view name, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", name, why));
}

// A flag of an integer field, at least `min`.
template <typename T>
OptionFlag IntFlag(std::string name, T ServerOptions::*field, int64_t min) {
  return OptionFlag{
      name,
      [field](const ServerOptions& o) -> absl::StatusOr<std::string> {
        return absl::StrCat(o.*field);
      },
      [name, field, min](absl::string_view value, ServerOptions* o) {
        int64_t n = 0;
        if (!absl::SimpleAtoi(value, &n)) {
          return Bad(name, absl::StrCat(": not a number: \"", value, "\""));
        }
        if (n < min) {
          return Bad(name,
                     min == 1 ? absl::StrCat(" must be positive, got ", n)
                              : absl::StrCat(" must be >= ", min, ", got ", n));
        }
        o->*field = static_cast<T>(n);
        return absl::OkStatus();
      }};
}

// A flag of a Duration field, >= 0 ("25ms").
OptionFlag DurationFlag(std::string name,
                        absl::Duration ServerOptions::*field) {
  return OptionFlag{
      name,
      [field](const ServerOptions& o) -> absl::StatusOr<std::string> {
        return absl::FormatDuration(o.*field);
      },
      [name, field](absl::string_view value, ServerOptions* o) {
        absl::Duration d;
        if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration()) {
          return Bad(
              name,
              absl::StrCat(" must be a duration >= 0 (\"25ms\"), got ", value));
        }
        o->*field = d;
        return absl::OkStatus();
      }};
}

// A flag of a LogLimits field, positive.
OptionFlag LogLimitFlag(std::string name, size_t LogLimits::*field) {
  return OptionFlag{
      name,
      [field](const ServerOptions& o) -> absl::StatusOr<std::string> {
        return absl::StrCat(o.log_limits.*field);
      },
      [name, field](absl::string_view value, ServerOptions* o) {
        int64_t n = 0;
        if (!absl::SimpleAtoi(value, &n) || n <= 0) {
          return Bad(name, absl::StrCat(" must be positive, got ", value));
        }
        o->log_limits.*field = static_cast<size_t>(n);
        return absl::OkStatus();
      }};
}

// A flag of a TlsOptions field: applied to options.tls when --tls set it;
// without it, only the field's default is accepted.
OptionFlag TlsFlag(
    std::string name,
    std::function<absl::StatusOr<std::string>(const TlsOptions&)> write,
    std::function<absl::Status(absl::string_view, TlsOptions*)> read) {
  return OptionFlag{
      name,
      [write](const ServerOptions& o) {
        return write(o.tls.value_or(TlsOptions{}));
      },
      [name, write, read](absl::string_view value, ServerOptions* o) {
        if (o->tls.has_value()) return read(value, &*o->tls);
        TlsOptions scratch;
        if (absl::Status s = read(value, &scratch); !s.ok()) return s;
        if (write(scratch).value_or("?") != write(TlsOptions{}).value_or("!")) {
          return Bad(name, " needs --tls");
        }
        return absl::OkStatus();
      }};
}

absl::StatusOr<std::string> Unescape(absl::string_view name,
                                     absl::string_view value) {
  std::string bytes, error;
  if (!absl::CUnescape(value, &bytes, &error)) return Bad(name, ": " + error);
  return bytes;
}

std::vector<OptionFlag> MakeFlags() {
  std::vector<OptionFlag> flags;
  flags.push_back({"address",
                   [](const ServerOptions& o) -> absl::StatusOr<std::string> {
                     return o.address;
                   },
                   [](absl::string_view value, ServerOptions* o) {
                     o->address = std::string(value);
                     return absl::OkStatus();
                   }});
  flags.push_back(
      {"port",
       [](const ServerOptions& o) -> absl::StatusOr<std::string> {
         return absl::StrCat(o.port);
       },
       [](absl::string_view value, ServerOptions* o) {
         int port = 0;
         if (!absl::SimpleAtoi(value, &port) || port < 0 || port > 65535) {
           return Bad("port", absl::StrCat(" must be 0..65535, got ", value));
         }
         o->port = port;
         return absl::OkStatus();
       }});
  flags.push_back({"unix_socket",
                   [](const ServerOptions& o) -> absl::StatusOr<std::string> {
                     return o.unix_socket;
                   },
                   [](absl::string_view value, ServerOptions* o) {
                     o->unix_socket = std::string(value);
                     return absl::OkStatus();
                   }});
  flags.push_back(
      {"unix_socket_mode",
       [](const ServerOptions& o) -> absl::StatusOr<std::string> {
         return absl::StrFormat("%04o", o.unix_socket_mode);
       },
       [](absl::string_view value, ServerOptions* o) {
         int mode = 0;
         if (value.empty() || value.size() > 4 ||
             value.find_first_not_of("01234567") != absl::string_view::npos) {
           return Bad("unix_socket_mode",
                      absl::StrCat(" must be octal 0000..0777, got ", value));
         }
         for (const char c : value) mode = mode * 8 + (c - '0');
         if (mode > 0777) {
           return Bad("unix_socket_mode",
                      absl::StrCat(" must be octal 0000..0777, got ", value));
         }
         o->unix_socket_mode = mode;
         return absl::OkStatus();
       }});
  flags.push_back(IntFlag("backlog", &ServerOptions::backlog, 1));
  flags.push_back({"framing",
                   [](const ServerOptions& o) -> absl::StatusOr<std::string> {
                     absl::StatusOr<std::string> spec = FramingSpec(o.framing);
                     if (!spec.ok()) {
                       return absl::InvalidArgumentError(
                           absl::StrCat("framing: ", spec.status().message()));
                     }
                     return spec;
                   },
                   [](absl::string_view value, ServerOptions* o) {
                     absl::StatusOr<Framing> framing = ParseFramingSpec(value);
                     if (!framing.ok())
                       return Bad(
                           "framing",
                           absl::StrCat(": ", framing.status().message()));
                     o->framing = *framing;
                     return absl::OkStatus();
                   }});
  flags.push_back(
      IntFlag("max_message_size", &ServerOptions::max_message_size, 1));
  flags.push_back(
      IntFlag("max_connections", &ServerOptions::max_connections, 1));
  flags.push_back(
      IntFlag("max_pending_output", &ServerOptions::max_pending_output, 0));
  flags.push_back(IntFlag("read_size", &ServerOptions::read_size, 1));
  flags.push_back(LogLimitFlag("log_max_events", &LogLimits::max_events));
  flags.push_back(LogLimitFlag("log_max_bytes", &LogLimits::max_bytes));
  flags.push_back({"reply",
                   [](const ServerOptions& o) -> absl::StatusOr<std::string> {
                     return absl::CEscape(o.reply.value_or("Received"));
                   },
                   [](absl::string_view value, ServerOptions* o) {
                     absl::StatusOr<std::string> bytes =
                         Unescape("reply", value);
                     if (!bytes.ok()) return bytes.status();
                     o->reply = *bytes;
                     return absl::OkStatus();
                   }});
  // After --reply: it overrides it.
  flags.push_back({"no_reply",
                   [](const ServerOptions& o) -> absl::StatusOr<std::string> {
                     return o.reply.has_value() ? "false" : "true";
                   },
                   [](absl::string_view value, ServerOptions* o) {
                     bool none = false;
                     if (!absl::SimpleAtob(value, &none)) {
                       return Bad("no_reply",
                                  absl::StrCat(": not a bool: ", value));
                     }
                     if (none) o->reply = std::nullopt;
                     return absl::OkStatus();
                   }});
  flags.push_back(
      {"greeting",
       [](const ServerOptions& o) -> absl::StatusOr<std::string> {
         if (!o.greeting.has_value()) return std::string();
         const Reply& g = *o.greeting;
         const Reply plain;
         if (g.delay != plain.delay || g.slice_bytes != plain.slice_bytes ||
             g.slice_pause != plain.slice_pause ||
             g.bytes_per_second != plain.bytes_per_second ||
             g.send_only != plain.send_only || g.then != plain.then ||
             g.then_delay != plain.then_delay) {
           return absl::InvalidArgumentError(
               "greeting: only its bytes have a flag, not its faults");
         }
         if (g.bytes.empty()) {
           return absl::InvalidArgumentError(
               "greeting: an empty greeting has no flag (it is no greeting)");
         }
         return absl::CEscape(g.bytes);
       },
       [](absl::string_view value, ServerOptions* o) {
         absl::StatusOr<std::string> bytes = Unescape("greeting", value);
         if (!bytes.ok()) return bytes.status();
         if (bytes->empty()) {
           o->greeting = std::nullopt;
         } else {
           o->greeting = Reply(*bytes);
         }
         return absl::OkStatus();
       }});
  flags.push_back(DurationFlag("reply_latency", &ServerOptions::reply_latency));
  flags.push_back(DurationFlag("drain_timeout", &ServerOptions::drain_timeout));
  flags.push_back(
      IntFlag("bytes_per_second", &ServerOptions::bytes_per_second, 0));
  // Repeatable: the patterns are joined by newlines (tools/flags.h).
  flags.push_back(
      {"redact",
       [](const ServerOptions& o) -> absl::StatusOr<std::string> {
         for (const std::string& p : o.redact) {
           if (p.empty() || absl::StrContains(p, '\n')) {
             return absl::InvalidArgumentError(absl::StrCat(
                 "redact: \"", absl::CHexEscape(p),
                 "\" has no flag spelling (empty or a newline: write \\n)"));
           }
         }
         return absl::StrJoin(o.redact, "\n");
       },
       [](absl::string_view value, ServerOptions* o) {
         o->redact = absl::StrSplit(value, '\n', absl::SkipEmpty());
         return absl::OkStatus();
       }});
  flags.push_back(
      {"close_after_bytes",
       [](const ServerOptions& o) -> absl::StatusOr<std::string> {
         return absl::StrCat(
             o.close_after_bytes == SIZE_MAX ? 0 : o.close_after_bytes);
       },
       [](absl::string_view value, ServerOptions* o) {
         int64_t n = 0;
         if (!absl::SimpleAtoi(value, &n) || n < 0) {
           return Bad("close_after_bytes",
                      absl::StrCat(" must be >= 0 (0: never), got ", value));
         }
         o->close_after_bytes = n == 0 ? SIZE_MAX : static_cast<size_t>(n);
         return absl::OkStatus();
       }});
  flags.push_back({"proxy_to",
                   [](const ServerOptions& o) -> absl::StatusOr<std::string> {
                     return o.proxy.has_value() ? o.proxy->upstream : "";
                   },
                   [](absl::string_view value, ServerOptions* o) {
                     if (value.empty()) {
                       o->proxy = std::nullopt;
                     } else {
                       o->proxy = ProxyOptions{};
                       o->proxy->upstream = std::string(value);
                     }
                     return absl::OkStatus();
                   }});
  // After --proxy_to: they set its fields; without it, only their defaults.
  flags.push_back(
      {"proxy_connect_timeout",
       [](const ServerOptions& o) -> absl::StatusOr<std::string> {
         return absl::FormatDuration(
             o.proxy.value_or(ProxyOptions{}).connect_timeout);
       },
       [](absl::string_view value, ServerOptions* o) {
         absl::Duration d;
         if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration()) {
           return Bad(
               "proxy_connect_timeout",
               absl::StrCat(" must be a duration > 0 (\"5s\"), got ", value));
         }
         if (o->proxy.has_value()) {
           o->proxy->connect_timeout = d;
         } else if (d != ProxyOptions{}.connect_timeout) {
           return Bad("proxy_connect_timeout", " needs --proxy_to");
         }
         return absl::OkStatus();
       }});
  flags.push_back(
      {"upstream_gone",
       [](const ServerOptions& o) -> absl::StatusOr<std::string> {
         return std::string(
             UpstreamGoneName(o.proxy.value_or(ProxyOptions{}).upstream_gone));
       },
       [](absl::string_view value, ServerOptions* o) {
         using Gone = ProxyOptions::UpstreamGone;
         std::optional<Gone> gone;
         for (Gone g : {Gone::kClose, Gone::kReset, Gone::kReply}) {
           if (value == UpstreamGoneName(g)) gone = g;
         }
         if (!gone.has_value()) {
           return Bad(
               "upstream_gone",
               absl::StrCat(" must be close, reset or reply, got ", value));
         }
         if (o->proxy.has_value()) {
           o->proxy->upstream_gone = *gone;
         } else if (*gone != ProxyOptions{}.upstream_gone) {
           return Bad("upstream_gone", " needs --proxy_to");
         }
         return absl::OkStatus();
       }});
  flags.push_back({"tls",
                   [](const ServerOptions& o) -> absl::StatusOr<std::string> {
                     return o.tls.has_value() ? "true" : "false";
                   },
                   [](absl::string_view value, ServerOptions* o) {
                     bool on = false;
                     if (!absl::SimpleAtob(value, &on)) {
                       return Bad("tls", absl::StrCat(": not a bool: ", value));
                     }
                     if (on) {
                       o->tls = TlsOptions{};
                     } else {
                       o->tls = std::nullopt;
                     }
                     return absl::OkStatus();
                   }});
  // After --tls: they set its fields; without it, only their defaults.
  flags.push_back(TlsFlag(
      "tls_cert",
      [](const TlsOptions& t) -> absl::StatusOr<std::string> {
        return t.cert_file;
      },
      [](absl::string_view v, TlsOptions* t) {
        t->cert_file = std::string(v);
        return absl::OkStatus();
      }));
  flags.push_back(TlsFlag(
      "tls_key",
      [](const TlsOptions& t) -> absl::StatusOr<std::string> {
        return t.key_file;
      },
      [](absl::string_view v, TlsOptions* t) {
        t->key_file = std::string(v);
        return absl::OkStatus();
      }));
  flags.push_back(TlsFlag(
      "tls_client_ca",
      [](const TlsOptions& t) -> absl::StatusOr<std::string> {
        return t.client_ca_file;
      },
      [](absl::string_view v, TlsOptions* t) {
        t->client_ca_file = std::string(v);
        return absl::OkStatus();
      }));
  flags.push_back(TlsFlag(
      "tls_alpn",
      [](const TlsOptions& t) -> absl::StatusOr<std::string> {
        for (const std::string& p : t.alpn) {
          if (p.empty() || absl::StrContains(p, ',')) {
            return absl::InvalidArgumentError(
                absl::StrCat("tls.alpn: \"", p,
                             "\" has no flag spelling (empty or a comma)"));
          }
        }
        return absl::StrJoin(t.alpn, ",");
      },
      [](absl::string_view v, TlsOptions* t) {
        t->alpn = absl::StrSplit(v, ',', absl::SkipEmpty());
        return absl::OkStatus();
      }));
  flags.push_back(TlsFlag(
      "tls_min_version",
      [](const TlsOptions& t) -> absl::StatusOr<std::string> {
        return t.min_version == TlsOptions::Version::kTls13 ? "1.3" : "1.2";
      },
      [](absl::string_view v, TlsOptions* t) {
        if (v == "1.2") {
          t->min_version = TlsOptions::Version::kTls12;
        } else if (v == "1.3") {
          t->min_version = TlsOptions::Version::kTls13;
        } else {
          return Bad("tls_min_version",
                     absl::StrCat(" must be 1.2 or 1.3, got ", v));
        }
        return absl::OkStatus();
      }));
  flags.push_back(TlsFlag(
      "tls_handshake_fault",
      [](const TlsOptions& t) -> absl::StatusOr<std::string> {
        return std::string(HandshakeFaultName(t.handshake_fault));
      },
      [](absl::string_view v, TlsOptions* t) {
        using Fault = TlsOptions::HandshakeFault;
        for (Fault f :
             {Fault::kNone, Fault::kFail, Fault::kStall, Fault::kClose}) {
          if (v == HandshakeFaultName(f)) {
            t->handshake_fault = f;
            return absl::OkStatus();
          }
        }
        return Bad(
            "tls_handshake_fault",
            absl::StrCat(" must be none, fail, stall or close, got ", v));
      }));
  return flags;
}

const std::vector<OptionFlag>& Flags() {
  static const auto* const flags = new std::vector<OptionFlag>(MakeFlags());
  return *flags;
}

}  // namespace

const std::vector<std::string>& ServerOptionFlagNames() {
  static const auto* const names = [] {
    auto* names = new std::vector<std::string>();
    for (const OptionFlag& flag : Flags()) names->push_back(flag.name);
    return names;
  }();
  return *names;
}

absl::StatusOr<std::vector<std::string>> ServerOptionsToFlags(
    const ServerOptions& options) {
  if (options.responder) {
    return absl::InvalidArgumentError(
        "responder: C++ code has no flag (use a script instead)");
  }
  std::vector<std::string> out;
  for (const OptionFlag& flag : Flags()) {
    absl::StatusOr<std::string> value = flag.write(options);
    if (!value.ok()) return value.status();
    out.push_back(absl::StrCat("--", flag.name, "=", *value));
  }
  return out;
}

absl::Status ApplyServerOptionFlag(absl::string_view name,
                                   absl::string_view value,
                                   ServerOptions* options) {
  for (const OptionFlag& flag : Flags()) {
    if (flag.name == name) return flag.read(value, options);
  }
  return absl::NotFoundError(
      absl::StrCat("--", name, " is not a server option flag"));
}

}  // namespace fake_tcp
