// The standalone fake TCP server: `tools/bazel run //tools:fake_tcp_server`.
//
// Listens on 127.0.0.1:9500 (by default), replies "Received" to each message,
// serves grpc.health.v1 on an ephemeral loopback port, prints one line per
// connection event and message, and shuts down cleanly on SIGINT/SIGTERM (a
// second signal exits at once).
//
// Exit codes: 0 clean shutdown; 1 cannot serve (e.g. port in use); 2 invalid
// flags.

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "server/base/file.h"
#include "server/control/control_server.h"
#include "server/fake_tcp_server.h"
#include "server/framing/framing.h"
#include "server/health/health_sidecar.h"
#include "server/log/event_stream.h"
#include "server/options/options_flags.h"
#include "server/script.h"
#include "tools/control_flags.h"
#include "tools/event_printer.h"
#include "tools/flags.h"
#include "tools/recording.h"
#include "tools/shutdown_signals.h"

// The flags of ServerOptions' fields are in tools/server_option_flags.cc;
// these are the standalone server's own.

ABSL_FLAG(bool, no_reply, false, "Reply nothing (overrides --reply).");
ABSL_FLAG(std::string, reply_file, "",
          "Reply with the bytes of this file (as they are, up to 1 GiB; held "
          "once, however many replies are pending) instead of --reply.");
ABSL_FLAG(
    std::string, record, "",
    "Write the session as a script that replays it "
    "(server/script/script.proto; JSON for a .json file, else text format): "
    "one rule per distinct message (see --record_match) with its "
    "replies in order. Rewritten atomically about a second after each "
    "change and at exit (a SIGKILL loses at most the last second); "
    "fake_tcp_ctl record writes it at once. Load it with --script.");
ABSL_FLAG(std::string, record_match, "exact",
          "How --record matches messages on replay: exact (the same bytes) | "
          "prefix:N (the first N bytes) | shape (a regex whose groups are the "
          "parts that look like they vary: UUIDs, timestamps, base64 tokens, "
          "hex ids, digits; an answer that echoed one replays the new "
          "value).");
ABSL_FLAG(fake_tcp::RepeatedFlag, record_vary, {},
          "Repeatable. An RE2 naming more parts of a message that vary from "
          "run to run (--record_vary='client-[a-z0-9]+'); with "
          "--record_match=exact or shape.");
ABSL_FLAG(std::string, tls_ca_file, "",
          "TLS: write the CA certificate clients must trust (PEM; the made "
          "one) to this file (atomically) before the address files.");
ABSL_FLAG(bool, health_tls, false,
          "Serve the health endpoint over TLS too, with the server's "
          "certificate (needs --tls).");
ABSL_FLAG(
    int, health_port, 0,
    "Port of the grpc.health.v1 endpoint on loopback; 0 picks a free port.");
ABSL_FLAG(
    std::string, health_service, "fake_tcp_server",
    "Service name the health endpoint reports (as does the overall \"\").");
ABSL_FLAG(
    std::string, address_file, "",
    "Write the TCP listener's host:port to this file (atomically) once it "
    "accepts.");
ABSL_FLAG(std::string, health_address_file, "",
          "Write the health endpoint's host:port to this file (atomically).");
ABSL_FLAG(
    std::string, script, "",
    "Scripted replies and faults (server/script/script.proto): protobuf text "
    "format, or JSON for a .json file. Its framing, greeting and faults "
    "override the flags'; messages no rule matches get its fallback.");
ABSL_FLAG(
    std::string, event_log, "",
    "Stream every log entry to this file as it happens (length-delimited "
    "fake_tcp.EventRecord protobufs, server/log/event_record.proto), complete "
    "at exit; the out-of-process test fixture follows it.");
ABSL_FLAG(bool, quiet, false, "Print only the start line, not every event.");
ABSL_FLAG(bool, verbose, false, "Print a hex dump of every message.");
ABSL_FLAG(std::string, transcript, "",
          "On exit, write the whole message log (text) to this file.");
ABSL_FLAG(bool, stop_on_stdin_eof, false,
          "Shut down as on SIGTERM when standard input ends: a launcher that "
          "holds a pipe to it takes the fake with it however it exits.");

namespace fake_tcp {
namespace {

constexpr int kExitCannotServe = 1;
constexpr size_t kMaxReplyFileBytes = size_t{1} << 30;
constexpr int kExitUsage = 2;

int Usage(const absl::Status& status) {
  fprintf(stderr, "fake_tcp_server: %s\n",
          std::string(status.message()).c_str());
  return kExitUsage;
}

absl::StatusOr<ServerOptions> OptionsFromFlags(
    std::shared_ptr<ScriptedResponder>* scripted) {
  ServerOptions options;
  for (const std::string& name : ServerOptionFlagNames()) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) {
      return absl::InternalError(
          absl::StrCat("--", name, " is a server option but not a flag"));
    }
    if (absl::Status s =
            ApplyServerOptionFlag(name, flag->CurrentValue(), &options);
        !s.ok()) {
      return s;
    }
  }
  if (const std::string path = UserPath(absl::GetFlag(FLAGS_reply_file));
      !path.empty()) {
    const absl::CommandLineFlag* reply = absl::FindCommandLineFlag("reply");
    if (absl::GetFlag(FLAGS_no_reply) ||
        reply->CurrentValue() != reply->DefaultValue()) {
      return absl::InvalidArgumentError(
          "--reply_file replaces --reply: give one of --reply, --reply_file, "
          "--no_reply");
    }
    absl::StatusOr<std::string> bytes = ReadFile(path, kMaxReplyFileBytes);
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--reply_file: ", bytes.status().message()));
    }
    options.reply = *std::move(bytes);
  }
  const std::string script_path = UserPath(absl::GetFlag(FLAGS_script));
  if (!script_path.empty()) {
    absl::StatusOr<Script> script = LoadScript(script_path);
    if (!script.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--script: ", script.status().message()));
    }
    absl::StatusOr<std::shared_ptr<ScriptedResponder>> responder =
        ScriptedResponder::Create(*script);
    if (!responder.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--script: ", responder.status().message()));
    }
    *scripted = *responder;
    if (absl::Status s = (*scripted)->ApplyTo(&options); !s.ok()) return s;
  }
  if (!absl::GetFlag(FLAGS_tls_ca_file).empty() &&
      (!options.tls.has_value() || !options.tls->cert_file.empty())) {
    return absl::InvalidArgumentError(
        "--tls_ca_file writes the CA the server makes: it needs --tls "
        "without --tls_cert");
  }
  if (absl::GetFlag(FLAGS_health_tls) && !options.tls.has_value()) {
    return absl::InvalidArgumentError("--health_tls needs --tls");
  }
  const int health_port = absl::GetFlag(FLAGS_health_port);
  if (health_port < 0 || health_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--health_port must be 0..65535, got ", health_port));
  }
  return options;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "A fake TCP server for tests: replies \"Received\" to every message, "
      "records everything,\nand reports readiness over grpc.health.v1.\n\n"
      "  fake_tcp_server [--port=9500] [--framing=line] [--reply='OK\\n'] ...");
  ParseFlagsOrExit(argc, argv, kExitUsage);

  // A reader of stdout (or of --event_log) that goes away must not end the
  // server: writes fail with EPIPE instead.
  signal(SIGPIPE, SIG_IGN);
  ShutdownSignals shutdown(absl::GetFlag(FLAGS_stop_on_stdin_eof));

  std::shared_ptr<ScriptedResponder> scripted;
  absl::StatusOr<ServerOptions> options = OptionsFromFlags(&scripted);
  if (!options.ok()) return Usage(options.status());
  absl::StatusOr<RecordOptions> record_options =
      ParseRecordOptions(absl::GetFlag(FLAGS_record_match),
                         absl::GetFlag(FLAGS_record_vary).values);
  if (record_options.ok()) {
    // Bad --record_vary patterns are usage errors too.
    if (absl::StatusOr<Script> check =
            RecordScript({}, Framing::Raw(), *record_options);
        !check.ok()) {
      record_options = absl::InvalidArgumentError(
          absl::StrCat("--record_vary: ", check.status().message()));
    }
  }
  if (!record_options.ok()) return Usage(record_options.status());

  // Written at exit: a directory that is not there is an error now, not then.
  for (const auto& [flag, path] :
       {std::pair<const char*, std::string>{
            "transcript", UserPath(absl::GetFlag(FLAGS_transcript))},
        {"record", UserPath(absl::GetFlag(FLAGS_record))}}) {
    if (path.empty()) continue;
    const size_t slash = path.rfind('/');
    const std::string dir =
        slash == std::string::npos ? "." : path.substr(0, slash);
    struct stat st;
    if (!dir.empty() && (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
      fprintf(stderr, "fake_tcp_server: --%s: no directory %s\n", flag,
              dir.c_str());
      return kExitUsage;
    }
  }

  EventStreamWriter event_stream;
  const std::string event_log = UserPath(absl::GetFlag(FLAGS_event_log));
  if (!event_log.empty()) {
    if (absl::Status s = event_stream.Open(event_log); !s.ok()) {
      fprintf(stderr, "fake_tcp_server: --event_log: %s\n",
              std::string(s.message()).c_str());
      return kExitCannotServe;
    }
  }

  // As many descriptors as the hard limit allows (as Go's runtime does): the
  // default --max_connections needs more than a soft limit of 1024 leaves.
  if (rlimit nofile; getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
                     nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &nofile);
  }

  // The TCP listener first: a client of the port (the main job) never waits for
  // gRPC to come up. The health endpoint then reports SERVING from its start.
  FakeTcpServer server(*std::move(options));
  // The options as served: a reply of 100 MiB is held once, by the server.
  const ServerOptions& served = server.options();
  if (absl::Status s = server.Start(); !s.ok()) {
    fprintf(stderr, "fake_tcp_server: %s\n", std::string(s.message()).c_str());
    return absl::IsInvalidArgument(s) ? kExitUsage : kExitCannotServe;
  }
  if (server.max_connections() < served.max_connections) {
    fprintf(stderr,
            "fake_tcp_server: --max_connections %zu lowered to %zu: the "
            "descriptor limit (ulimit -n) leaves no more\n",
            served.max_connections, server.max_connections());
  }
  // The CA before the address file: a client that waits for that finds this.
  for (const auto& [flag, path, contents] :
       {std::tuple{"tls_ca_file", UserPath(absl::GetFlag(FLAGS_tls_ca_file)),
                   server.tls_ca_pem()},
        std::tuple{"address_file", UserPath(absl::GetFlag(FLAGS_address_file)),
                   server.address()}}) {
    if (path.empty()) continue;
    if (absl::Status s = WriteFileAtomically(path, contents); !s.ok()) {
      fprintf(stderr, "fake_tcp_server: --%s: %s\n", flag,
              std::string(s.message()).c_str());
      return kExitCannotServe;
    }
  }
  HealthOptions health_options;
  health_options.address =
      served.address.find(':') != std::string::npos ? "::1" : "127.0.0.1";
  health_options.port = absl::GetFlag(FLAGS_health_port);
  health_options.service = absl::GetFlag(FLAGS_health_service);
  if (absl::GetFlag(FLAGS_health_tls)) {
    health_options.tls = server.tls_certificate();
  }
  health_options.address_file =
      UserPath(absl::GetFlag(FLAGS_health_address_file));
  HealthSidecar health(&server, health_options);
  if (absl::Status s = health.Start(); !s.ok()) {
    fprintf(stderr, "fake_tcp_server: %s\n", std::string(s.message()).c_str());
    return kExitCannotServe;
  }
  // --record: kept on disk while the fake runs.
  std::unique_ptr<RecordingWriter> recording;
  if (const std::string path = UserPath(absl::GetFlag(FLAGS_record));
      !path.empty()) {
    recording = std::make_unique<RecordingWriter>(
        path, &server, *record_options,
        served.proxy.has_value() ? served.proxy->upstream : std::string());
    recording->Start();
  }
  // The control API, once health is up (status names its address).
  std::unique_ptr<ControlServer> control;
  // How far the event follower (below) got: a clear waits for it.
  FollowProgress progress;
  const bool following = !absl::GetFlag(FLAGS_quiet) || !event_log.empty();
  if (ControlApiWanted()) {
    ControlServiceOptions service;
    service.health_address = health.address();
    service.script = scripted;
    service.shutdown = [] { kill(getpid(), SIGTERM); };
    if (following) {
      service.before_clear = [&progress](uint64_t through) {
        (void)progress.AwaitPassed(through, absl::Seconds(5));
      };
    }
    if (recording != nullptr) {
      service.write_recording =
          [&recording]() -> absl::StatusOr<control::RecordingResult> {
        absl::StatusOr<int> rules = recording->Write();
        if (!rules.ok()) return rules.status();
        control::RecordingResult result;
        result.set_path(recording->path());
        result.set_rules(*rules);
        return result;
      };
    }
    service.write_transcript =
        [path = UserPath(absl::GetFlag(FLAGS_transcript))](
            const std::string& text) -> absl::StatusOr<std::string> {
      if (path.empty()) return std::string();
      if (absl::Status s = WriteFileAtomically(path, text); !s.ok()) return s;
      return path;
    };
    absl::StatusOr<std::unique_ptr<ControlServer>> started =
        StartControlApi(&server, health_options.address, std::move(service));
    if (!started.ok()) {
      fprintf(stderr, "fake_tcp_server: %s\n",
              std::string(started.status().message()).c_str());
      return absl::IsInvalidArgument(started.status()) ? kExitUsage
                                                       : kExitCannotServe;
    }
    control = *std::move(started);
  }
  std::string replies = served.tls.has_value() ? "TLS, " : "";
  if (served.proxy.has_value()) {
    replies += absl::StrCat("proxy to ", served.proxy->upstream);
  } else if (scripted != nullptr) {
    replies += absl::StrCat("script ", UserPath(absl::GetFlag(FLAGS_script)),
                            " with ", scripted->RuleUses().size(), " rules");
  } else if (served.reply.has_value()) {
    replies += absl::StrCat("reply ", FormatBytes(*served.reply, 40));
  } else {
    replies += "no reply";
  }
  printf(
      "fake_tcp_server: listening on %s (%s framing, %s); health on %s "
      "(grpc.health.v1, service \"%s\")\n",
      server.address().c_str(), served.framing.ToString().c_str(),
      replies.c_str(), health.address().c_str(),
      health_options.service.c_str());
  if (control != nullptr) {
    printf("fake_tcp_server: control API on %s\n", control->url().c_str());
  }
  fflush(stdout);

  // Follows the log only when someone reads what it writes.
  StdoutWriter out;
  std::thread follower;
  if (following) {
    follower = std::thread(
        FollowEvents, std::cref(server.log()), absl::GetFlag(FLAGS_quiet),
        absl::GetFlag(FLAGS_verbose),
        event_log.empty() ? nullptr : &event_stream, &out, &progress);
  }

  const char* why = shutdown.Wait();
  fprintf(stderr, "fake_tcp_server: %s, shutting down\n", why);

  // The health endpoint reports NOT_SERVING first (Stop notifies it), then
  // every connection closes and the log is complete. What stdout does not take
  // within StdoutWriter::kDrainTimeout is not printed.
  out.StartDraining();
  server.Stop();
  // Pending waits have answered "the server stopped" meanwhile.
  if (control != nullptr) control->Stop();
  if (follower.joinable()) follower.join();  // every event printed and streamed
  int status = 0;
  const std::string transcript = UserPath(absl::GetFlag(FLAGS_transcript));
  if (!transcript.empty()) {
    if (absl::Status s =
            WriteFileAtomically(transcript, server.log().ToString() + "\n");
        !s.ok()) {
      fprintf(stderr, "fake_tcp_server: --transcript: %s\n",
              std::string(s.message()).c_str());
      status = kExitCannotServe;
    }
  }
  health.Stop();
  if (recording != nullptr) {
    recording->Stop();
    if (absl::StatusOr<int> rules = recording->Write(/*final=*/true);
        !rules.ok()) {
      fprintf(stderr, "fake_tcp_server: --record: %s\n",
              std::string(rules.status().message()).c_str());
      status = kExitCannotServe;
    } else {
      fprintf(stderr, "fake_tcp_server: recorded %d rules to %s\n", *rules,
              recording->path().c_str());
    }
  }
  if (scripted != nullptr) {
    const std::vector<std::string> unused = scripted->UnusedRules();
    if (!unused.empty()) {
      fprintf(stderr, "fake_tcp_server: rules that never matched: %s\n",
              JoinCapped(unused).c_str());
    }
    const std::vector<UnmatchedMessage> unmatched =
        scripted->UnmatchedMessages();
    constexpr size_t kShown = 20;
    for (size_t i = 0; i < unmatched.size() && i < kShown; ++i) {
      fprintf(stderr, "fake_tcp_server: %s\n", unmatched[i].ToString().c_str());
    }
    if (unmatched.size() > kShown) {
      fprintf(stderr,
              "fake_tcp_server: ... and %zu more messages no rule matched\n",
              unmatched.size() - kShown);
    }
  }
  const LogCounts counts = server.log().counts();
  fprintf(stderr,
          "fake_tcp_server: stopped after %llu connections, %llu messages "
          "received, %llu sent\n",
          static_cast<unsigned long long>(counts.accepted),
          static_cast<unsigned long long>(counts.received),
          static_cast<unsigned long long>(counts.sent));
  return status;
}

}  // namespace
}  // namespace fake_tcp

int main(int argc, char** argv) { return fake_tcp::Main(argc, argv); }
