// fake_tcp_ctl: drives a running fake_tcp_server through its control API.
//
//   fake_tcp_ctl --control_address_file=PATH <command> [DATA]
//
// Commands: status, log [--follow], wait (--messages=N | --matching=PREFIX |
// --matching_regex=RE | --connections=N | --closed) [--connection=ID]
// [--timeout=5s], send --connection=ID DATA [--hex], broadcast DATA [--hex],
// drop [--connection=ID] [--reset], pause, resume, stop_accepting,
// script --file=PATH [--append], reply DATA | --no_reply, clear,
// reset [--keep_connections], transcript, record, shutdown.
//
// Exit codes: 0 done; 1 a wait timed out (or ended unsatisfied); 2 usage or a
// request the fake refused as invalid; 3 the fake cannot be reached or
// answered with another error.

#include <stdio.h>

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "server/base/file.h"
#include "server/control/control.pb.h"
#include "server/control/control_client.h"
#include "server/control/control_codec.h"
#include "server/script.h"
#include "tools/flags.h"

ABSL_FLAG(std::string, control_address_file, "",
          "The fake's control address file (fake_tcp_server "
          "--control_address_file).");
ABSL_FLAG(absl::Duration, address_timeout, absl::Seconds(30),
          "How long to wait for the address file to appear (a fake just "
          "launched writes it once its control API listens).");
ABSL_FLAG(bool, json, false, "Print the API's JSON answer as it is.");
ABSL_FLAG(bool, follow, false,
          "log: keep printing new entries until the "
          "fake stops.");
ABSL_FLAG(uint64_t, messages, 0, "wait: for this many messages.");
ABSL_FLAG(std::string, matching, "",
          "wait: for a message that starts with this (C escapes allowed).");
ABSL_FLAG(std::string, matching_regex, "",
          "wait: for a message that matches this RE2 regex (whole message).");
ABSL_FLAG(uint64_t, connections, 0, "wait: for this many connections.");
ABSL_FLAG(bool, closed, false, "wait: for --connection to close.");
ABSL_FLAG(uint64_t, connection, 0,
          "The connection id (send, drop, and waits on one connection).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5), "wait: how long.");
ABSL_FLAG(bool, hex, false, "send/broadcast/reply: DATA is hex.");
ABSL_FLAG(bool, reset, false, "drop: reset (RST) instead of closing.");
ABSL_FLAG(std::string, file, "", "script: the script file (.json or text).");
ABSL_FLAG(bool, append, false, "script: add its rules after the current.");
ABSL_FLAG(bool, no_reply, false, "reply: answer nothing.");
ABSL_FLAG(bool, keep_connections, false, "reset: leave open connections open.");

namespace fake_tcp {
namespace {

constexpr int kExitTimedOut = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

int Fail(const absl::Status& status) {
  fprintf(stderr, "fake_tcp_ctl: %s\n", std::string(status.message()).c_str());
  return absl::IsInvalidArgument(status) || absl::IsNotFound(status) ||
                 absl::IsFailedPrecondition(status)
             ? kExitUsage
             : kExitUnreachable;
}

absl::StatusOr<std::string> Data(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(args[0], " takes one DATA argument"));
  }
  if (!absl::GetFlag(FLAGS_hex)) {
    std::string out;
    std::string error;
    if (!absl::CUnescape(args[1], &out, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("DATA: ", error));
    }
    return out;
  }
  std::string compact;
  for (char c : args[1]) {
    if (c != ' ') compact += c;
  }
  if (compact.size() % 2 != 0 ||
      compact.find_first_not_of("0123456789abcdefABCDEF") !=
          std::string::npos) {
    return absl::InvalidArgumentError("--hex: DATA is not hex bytes");
  }
  return absl::HexStringToBytes(compact);
}

void PrintEntries(const control::LogPage& page) {
  for (const control::Entry& e : page.entries()) {
    printf("#%llu +%.3fs conn %llu %s %s%s%s\n",
           static_cast<unsigned long long>(e.sequence()), e.offset_seconds(),
           static_cast<unsigned long long>(e.connection()), e.kind().c_str(),
           e.bytes().empty()
               ? ""
               : absl::StrCat(e.bytes().size(), " bytes \"",
                              absl::CHexEscape(e.bytes().substr(0, 64)), "\"")
                     .c_str(),
           e.detail().empty() ? "" : " ", e.detail().c_str());
  }
}

int Run(const std::vector<std::string>& args) {
  const std::string path = UserPath(absl::GetFlag(FLAGS_control_address_file));
  absl::Status ready =
      path.empty()
          ? absl::InvalidArgumentError("not given")
          : WaitForAddressFile(path, absl::GetFlag(FLAGS_address_timeout))
                .status();
  absl::StatusOr<control::AddressFile> address =
      ready.ok() ? ReadControlAddressFile(path)
                 : absl::StatusOr<control::AddressFile>(ready);
  if (!address.ok()) {
    fprintf(stderr, "fake_tcp_ctl: --control_address_file: %s\n",
            std::string(address.status().message()).c_str());
    return path.empty() ? kExitUsage : kExitUnreachable;
  }
  ControlClient client(*address);
  const std::string& command = args[0];
  const bool json = absl::GetFlag(FLAGS_json);
  // Calls the API and prints its answer (JSON, or `text` of it).
  auto call = [&](const char* method, const std::string& path,
                  const google::protobuf::Message* request,
                  google::protobuf::Message* answer) -> absl::Status {
    absl::Status s =
        client.Call(method, path, request, answer,
                    absl::GetFlag(FLAGS_timeout) + absl::Seconds(30));
    if (s.ok() && json && answer != nullptr) {
      printf("%s", ControlJson(*answer).c_str());
    }
    return s;
  };
  control::ActionResult action;
  absl::Status s;
  if (command == "status") {
    control::Status status;
    s = call("GET", "/v1/status", nullptr, &status);
    if (s.ok() && !json) {
      printf(
          "listener %s on %s (health %s); %llu open connections%s; %llu "
          "messages received, %llu sent%s\n",
          status.listener().c_str(), status.address().c_str(),
          status.health_address().c_str(),
          static_cast<unsigned long long>(status.log().open()),
          status.at_capacity() ? " (at capacity: new ones are closed at once)"
                               : "",
          static_cast<unsigned long long>(status.log().received()),
          static_cast<unsigned long long>(status.log().sent()),
          status.unused_rules().empty()
              ? ""
              : absl::StrCat("; rules never matched: ",
                             JoinCapped(status.unused_rules(),
                                        status.unused_rules_not_shown()))
                    .c_str());
      for (const control::Connection& c : status.connections()) {
        printf("  conn %llu %s %s: %llu bytes in, %llu out\n",
               static_cast<unsigned long long>(c.id()), c.peer().c_str(),
               c.state().c_str(),
               static_cast<unsigned long long>(c.bytes_received()),
               static_cast<unsigned long long>(c.bytes_sent()));
      }
    }
  } else if (command == "log") {
    uint64_t after = 0;
    do {
      control::LogPage page;
      std::string path = absl::StrCat("/v1/log?after=", after);
      if (absl::GetFlag(FLAGS_connection) != 0) {
        absl::StrAppend(&path, "&connection=", absl::GetFlag(FLAGS_connection));
      }
      if (absl::GetFlag(FLAGS_follow)) absl::StrAppend(&path, "&wait=60s");
      s = call("GET", path, nullptr, &page);
      if (!s.ok()) {
        // The fake went away while followed: the log is complete.
        if (absl::GetFlag(FLAGS_follow) && after > 0) return 0;
        break;
      }
      if (!json) PrintEntries(page);
      fflush(stdout);
      after = page.next_after();
    } while (absl::GetFlag(FLAGS_follow));
  } else if (command == "wait") {
    control::WaitRequest request;
    if (absl::GetFlag(FLAGS_messages) > 0) {
      request.set_messages(absl::GetFlag(FLAGS_messages));
    } else if (!absl::GetFlag(FLAGS_matching).empty()) {
      std::string prefix;
      absl::CUnescape(absl::GetFlag(FLAGS_matching), &prefix);
      request.mutable_matching()->set_prefix(prefix);
    } else if (!absl::GetFlag(FLAGS_matching_regex).empty()) {
      request.mutable_matching()->set_regex(
          absl::GetFlag(FLAGS_matching_regex));
    } else if (absl::GetFlag(FLAGS_connections) > 0) {
      request.set_connections(absl::GetFlag(FLAGS_connections));
    } else if (absl::GetFlag(FLAGS_closed)) {
      request.set_closed(true);
    } else {
      return Fail(absl::InvalidArgumentError(
          "wait needs --messages, --matching, --matching_regex, "
          "--connections or --closed"));
    }
    request.set_connection(absl::GetFlag(FLAGS_connection));
    *request.mutable_timeout() =
        google::protobuf::util::TimeUtil::NanosecondsToDuration(
            absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_timeout)));
    control::WaitResult result;
    s = call("POST", "/v1/wait", &request, &result);
    if (s.ok()) {
      if (!json) {
        printf(
            "%s %s after %s\n",
            result.satisfied() ? "got" : "timed out waiting for",
            result.waited_for().c_str(),
            absl::FormatDuration(DurationFromProto(result.waited())).c_str());
        if (!result.satisfied()) {
          control::LogPage seen;
          *seen.mutable_entries() = result.last_entries();
          printf("seen: %llu messages, %llu connections; last entries:\n",
                 static_cast<unsigned long long>(result.seen().received()),
                 static_cast<unsigned long long>(result.seen().accepted()));
          PrintEntries(seen);
        }
      }
      if (!result.satisfied()) return kExitTimedOut;
    }
  } else if (command == "send" || command == "broadcast") {
    absl::StatusOr<std::string> data = Data(args);
    if (!data.ok()) return Fail(data.status());
    control::SendRequest request;
    request.set_data(*data);
    if (command == "broadcast") {
      s = call("POST", "/v1/broadcast", &request, &action);
    } else if (absl::GetFlag(FLAGS_connection) == 0) {
      return Fail(absl::InvalidArgumentError("send needs --connection=ID"));
    } else {
      s = call("POST",
               absl::StrCat("/v1/connections/", absl::GetFlag(FLAGS_connection),
                            "/send"),
               &request, &action);
    }
  } else if (command == "drop") {
    control::CloseRequest request;
    request.set_reset(absl::GetFlag(FLAGS_reset));
    const uint64_t id = absl::GetFlag(FLAGS_connection);
    s = call("POST",
             id == 0 ? std::string("/v1/connections:close")
                     : absl::StrCat("/v1/connections/", id, "/close"),
             &request, &action);
  } else if (command == "pause" || command == "resume" ||
             command == "stop_accepting") {
    s = call("POST",
             absl::StrCat("/v1/listener:",
                          command == "stop_accepting" ? "stop" : command),
             nullptr, nullptr);
  } else if (command == "script") {
    absl::StatusOr<Script> script =
        LoadScript(UserPath(absl::GetFlag(FLAGS_file)));
    if (!script.ok()) return Fail(script.status());
    control::ScriptRequest request;
    *request.mutable_script() = *script;
    s = absl::GetFlag(FLAGS_append)
            ? call("POST", "/v1/script/rules", &request, nullptr)
            : call("PUT", "/v1/script", &request, nullptr);
  } else if (command == "reply") {
    control::ReplyRequest request;
    if (absl::GetFlag(FLAGS_no_reply)) {
      request.set_none(true);
    } else {
      absl::StatusOr<std::string> data = Data(args);
      if (!data.ok()) return Fail(data.status());
      request.set_data(*data);
    }
    s = call("PUT", "/v1/reply", &request, nullptr);
  } else if (command == "clear") {
    s = call("POST", "/v1/log:clear", nullptr, nullptr);
  } else if (command == "reset") {
    control::ResetRequest request;
    request.set_keep_connections(absl::GetFlag(FLAGS_keep_connections));
    control::ResetResult result;
    s = call("POST", "/v1/reset", &request, &result);
    action.set_connections(result.connections_closed());
  } else if (command == "transcript") {
    control::TranscriptResult result;
    s = call("POST", "/v1/transcript", nullptr, &result);
    if (s.ok() && !json) printf("%s", result.text().c_str());
  } else if (command == "record") {
    control::RecordingResult result;
    s = call("POST", "/v1/recording", nullptr, &result);
    if (s.ok() && !json) {
      printf("recorded %d rules to %s\n", result.rules(),
             result.path().c_str());
    }
  } else if (command == "shutdown") {
    s = call("POST", "/v1/shutdown", nullptr, nullptr);
  } else {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("unknown command \"", command, "\" (see --help)")));
  }
  if (!s.ok()) return Fail(s);
  if (!json && (command == "send" || command == "broadcast" ||
                command == "drop" || command == "reset")) {
    printf("%u connections\n", action.connections());
  }
  return 0;
}

}  // namespace
}  // namespace fake_tcp

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Drives a running fake_tcp_server through its control API.\n\n"
      "  fake_tcp_ctl --control_address_file=PATH status | log [--follow] | "
      "wait --messages=N | send --connection=ID DATA | broadcast DATA | drop | "
      "pause | resume | stop_accepting | script --file=F | reply DATA | clear "
      "| reset | transcript | record | shutdown");
  // The command and DATA are positional; the flags go to absl.
  std::vector<std::string> args;
  std::vector<char*> flags = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-' && argv[i][1] != '\0') {
      flags.push_back(argv[i]);
    } else {
      args.emplace_back(argv[i]);
    }
  }
  fake_tcp::ParseFlagsOrExit(static_cast<int>(flags.size()), flags.data(),
                             fake_tcp::kExitUsage);
  if (args.empty()) {
    fprintf(stderr, "fake_tcp_ctl: no command (see --help)\n");
    return fake_tcp::kExitUsage;
  }
  return fake_tcp::Run(args);
}
