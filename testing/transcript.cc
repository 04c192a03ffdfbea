#include "testing/transcript.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "server/base/file.h"

namespace fake_tcp::testing {
namespace {

constexpr size_t kShownBytes = 512;
constexpr size_t kMaxHtmlEvents = 5000;

std::string Relative(absl::Time t, absl::Time origin) {
  return absl::StrFormat("+%.6fs", absl::ToDoubleSeconds(t - origin));
}

std::string Header(const TranscriptInput& in) {
  return absl::StrCat(
      in.counts.accepted, " connections, ", in.counts.received,
      " messages received, ", in.counts.sent, " sent",
      in.counts.dropped > 0
          ? absl::StrCat(", ", in.counts.dropped,
                         " oldest log entries dropped (log limits)")
          : "");
}

// CSS class and arrow of an event in the timeline.
struct Look {
  const char* css;
  const char* label;
};

Look LookOf(EventType type) {
  switch (type) {
    case EventType::kAccepted:
      return {"open", "connected"};
    case EventType::kReceived:
      return {"recv", "client &rarr; server"};
    case EventType::kSent:
      return {"sent", "server &rarr; client"};
    case EventType::kPeerClosed:
      return {"close", "client closed (FIN)"};
    case EventType::kReset:
      return {"fault", "client reset (RST)"};
    case EventType::kServerClosed:
      return {"close", "server closed"};
    case EventType::kServerReset:
      return {"fault", "server reset (RST)"};
    case EventType::kServerHalfClosed:
      return {"fault", "server half-closed"};
    case EventType::kStalled:
      return {"fault", "server stalled"};
    case EventType::kOversize:
      return {"fault", "oversize message"};
    case EventType::kFramingError:
      return {"fault", "framing error"};
    case EventType::kConnectionLimit:
      return {"fault", "over max_connections"};
    case EventType::kUpstream:
      return {"open", "upstream"};
    case EventType::kTls:
      return {"open", "TLS handshake"};
  }
  return {"close", "?"};
}

constexpr char kStyle[] = R"css(
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2430;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#57606a;margin:0 0 16px}
.legend span{display:inline-block;margin:0 12px 12px 0;padding:2px 8px;border-radius:4px}
.wrap{overflow-x:auto;border:1px solid #d0d7de;border-radius:6px;background:#fff}
table{border-collapse:collapse;min-width:100%}
th{position:sticky;top:0;background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:6px 10px;text-align:left;font-weight:600;white-space:nowrap}
th small{display:block;font-weight:400;color:#57606a}
td{border-bottom:1px solid #eef1f4;padding:4px 10px;vertical-align:top;min-width:180px}
td.t{min-width:0;white-space:nowrap;color:#57606a;font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.ev{border-radius:4px;padding:3px 8px}
.ev b{font-weight:600}
.ev pre{margin:2px 0 0;white-space:pre-wrap;word-break:break-all;font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.ev i{display:block;color:#57606a;font-style:normal;font-size:12px}
.recv{background:#ddf4ff;border-left:4px solid #0969da}
.sent{background:#dafbe1;border-left:4px solid #1a7f37;margin-left:24px}
.open{background:#f6f8fa;border-left:4px solid #8c959f}
.close{background:#fff8c5;border-left:4px solid #9a6700}
.fault{background:#ffebe9;border-left:4px solid #cf222e}
tr.wait td{background:#cf222e;color:#fff;font-weight:600}
tr.wait pre{white-space:pre-wrap;font:12px ui-monospace,SFMono-Regular,Menlo,monospace;margin:4px 0 0;font-weight:400}
)css";

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string TextTranscript(const TranscriptInput& in) {
  std::string out =
      absl::StrCat("fake_tcp_server transcript: ", in.title, "\n", "server ",
                   in.address, "; ", Header(in), "\n\n");
  size_t w = 0;
  for (const Event& e : in.events) {
    while (w < in.failed_waits.size() && in.failed_waits[w].time < e.time) {
      absl::StrAppend(&out, ">>> ",
                      Relative(in.failed_waits[w].time, in.origin),
                      " WAIT FAILED for ", in.failed_waits[w].what, "\n");
      ++w;
    }
    absl::StrAppend(&out, e.ToString(in.origin), "\n");
  }
  for (; w < in.failed_waits.size(); ++w) {
    absl::StrAppend(&out, ">>> ", Relative(in.failed_waits[w].time, in.origin),
                    " WAIT FAILED for ", in.failed_waits[w].what, "\n");
  }
  return out;
}

std::string HtmlTranscript(const TranscriptInput& in) {
  const size_t skip =
      in.events.size() > kMaxHtmlEvents ? in.events.size() - kMaxHtmlEvents : 0;
  // One lane per connection, in order of first appearance.
  std::map<uint64_t, size_t> lane;
  std::vector<std::string> lane_peer;
  for (size_t i = skip; i < in.events.size(); ++i) {
    const Event& e = in.events[i];
    if (lane.emplace(e.connection_id, lane_peer.size()).second) {
      lane_peer.push_back(e.peer);
    }
  }
  const size_t lanes = std::max<size_t>(lane_peer.size(), 1);

  std::string out = absl::StrCat(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<title>",
      HtmlEscape(in.title),
      " &middot; fake_tcp_server transcript</title><style>", kStyle,
      "</style></head><body>\n<h1>", HtmlEscape(in.title),
      "</h1>\n<p class=\"meta\">fake server ", HtmlEscape(in.address),
      " &middot; ", HtmlEscape(Header(in)),
      skip > 0 ? absl::StrCat(" &middot; showing the last ", kMaxHtmlEvents,
                              " entries")
               : "",
      "</p>\n<div class=\"legend\"><span class=\"recv\">client &rarr; "
      "server</span><span class=\"sent\">server &rarr; client</span><span "
      "class=\"open\">connected</span><span class=\"close\">closed</span><span "
      "class=\"fault\">reset / fault</span><span style=\"background:#cf222e;"
      "color:#fff\">failed wait</span></div>\n<div class=\"wrap\"><table>"
      "<thead><tr><th>time</th>");
  for (size_t l = 0; l < lane_peer.size(); ++l) {
    uint64_t id = 0;
    for (const auto& [conn, index] : lane) {
      if (index == l) id = conn;
    }
    absl::StrAppend(&out, "<th>connection ", id, "<small>",
                    HtmlEscape(lane_peer[l]), "</small></th>");
  }
  if (lane_peer.empty()) out += "<th>no connections</th>";
  out += "</tr></thead>\n<tbody>\n";

  auto wait_row = [&](const FailedWait& w) {
    absl::StrAppend(&out, "<tr class=\"wait\"><td class=\"t\">",
                    Relative(w.time, in.origin), "</td><td colspan=\"", lanes,
                    "\">&#10007; wait failed: ", HtmlEscape(w.what), "<pre>",
                    HtmlEscape(w.why), "</pre></td></tr>\n");
  };
  size_t w = 0;
  for (size_t i = skip; i < in.events.size(); ++i) {
    const Event& e = in.events[i];
    while (w < in.failed_waits.size() && in.failed_waits[w].time < e.time) {
      wait_row(in.failed_waits[w++]);
    }
    const Look look = LookOf(e.type);
    absl::StrAppend(&out, "<tr><td class=\"t\">", Relative(e.time, in.origin),
                    "<br>#", e.sequence, "</td>");
    const size_t at = lane[e.connection_id];
    for (size_t l = 0; l < lanes; ++l) {
      if (l != at) {
        out += "<td></td>";
        continue;
      }
      absl::StrAppend(&out, "<td><div class=\"ev ", look.css, "\"><b>",
                      look.label, "</b>");
      if (e.type == EventType::kReceived || e.type == EventType::kSent ||
          !e.bytes.empty()) {
        absl::StrAppend(&out, " ", e.bytes.size(), " bytes<pre>",
                        HtmlEscape(FormatBytes(e.bytes, kShownBytes)),
                        "</pre>");
      }
      if (!e.detail.empty()) {
        absl::StrAppend(&out, "<i>", HtmlEscape(e.detail), "</i>");
      }
      out += "</div></td>";
    }
    out += "</tr>\n";
  }
  while (w < in.failed_waits.size()) wait_row(in.failed_waits[w++]);
  out += "</tbody></table></div>\n</body></html>\n";
  return out;
}

absl::Status WriteTranscripts(const std::string& dir, const std::string& name,
                              const TranscriptInput& input) {
  std::string safe;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    safe += ok ? c : '_';
  }
  const std::string base = absl::StrCat(dir, "/", safe, ".transcript");
  if (absl::Status s =
          WriteFileAtomically(base + ".txt", TextTranscript(input));
      !s.ok()) {
    return s;
  }
  return WriteFileAtomically(base + ".html", HtmlTranscript(input));
}

std::string StableOutputsPath(absl::string_view test_target) {
  std::string repo_dir;
  if (absl::ConsumePrefix(&test_target, "@")) {
    const size_t slashes = test_target.find("//");
    if (slashes == absl::string_view::npos) return "";
    const absl::string_view repo = test_target.substr(0, slashes);
    if (!repo.empty()) repo_dir = absl::StrCat("external/", repo, "/");
    test_target.remove_prefix(slashes);
  }
  if (!absl::ConsumePrefix(&test_target, "//")) return "";
  const size_t colon = test_target.find(':');
  const absl::string_view package = test_target.substr(0, colon);
  const absl::string_view name = colon == absl::string_view::npos
                                     ? package.substr(package.rfind('/') + 1)
                                     : test_target.substr(colon + 1);
  if (name.empty()) return "";
  return absl::StrCat("bazel-testlogs/", repo_dir, package,
                      package.empty() ? "" : "/", name,
                      "/test.outputs/outputs.zip");
}

}  // namespace fake_tcp::testing
