#!/usr/bin/env bash
# A shell session with only fake_tcp_server, fake_tcp_ctl and curl drives a test end to
# end: start, wait for a message, push bytes to the connection, pause, resume, read the
# log, shut down. A real client holds a connection through bash's /dev/tcp.
set -euo pipefail

bin="${TEST_SRCDIR}/${TEST_WORKSPACE}/tools"
curl="${TEST_SRCDIR}/host_tools/curl"
tmp="$(mktemp -d "${TEST_TMPDIR}/ctl.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "${server_pid}" ]]; then kill -KILL "${server_pid}" 2>/dev/null || true; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "--- server output:" >&2
  cat "${tmp}/server.out" >&2 || true
  exit 1
}
ctl() { "${bin}/fake_tcp_ctl" --control_address_file="${tmp}/control.json" "$@"; }

"${bin}/fake_tcp_server" --port=0 --framing=line --reply='Received\n' \
  --address_file="${tmp}/addr" --control_address_file="${tmp}/control.json" \
  --transcript="${tmp}/transcript.txt" --record="${tmp}/rec.textproto" \
  >"${tmp}/server.out" 2>&1 &
server_pid=$!

# fake_tcp_ctl waits for the address file itself (inotify, no polling).
ctl status >"${tmp}/status.txt" || fail "status failed"
grep -q '^listener accepting' "${tmp}/status.txt" || fail "status: $(cat "${tmp}/status.txt")"
[[ "$(stat -c %a "${tmp}/control.json")" == 600 ]] || fail "the address file is not 0600"
port="$(cut -d: -f2 <"${tmp}/addr")"
url="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "${tmp}/control.json")"
token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "${tmp}/control.json")"

# The contract: GET /v1/status with the token answers the TCP port.
body="$("${curl}" -sS -H "Authorization: Bearer ${token}" "${url}/v1/status")"
python3 -c 'import json,sys; assert json.loads(sys.argv[1])["port"] == int(sys.argv[2])' \
  "${body}" "${port}" || fail "status has no port ${port}: ${body}"
code="$("${curl}" -s -o /dev/null -w '%{http_code}' "${url}/v1/status")"
[[ "${code}" == 401 ]] || fail "no token should be 401, got ${code}"
code="$("${curl}" -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' \
  -X POST "${url}/v1/listener:pause")"
[[ "${code}" == 401 ]] || fail "a wrong token should be 401, got ${code}"
code="$("${curl}" -s -o "${tmp}/err.json" -w '%{http_code}' -H "Authorization: Bearer ${token}" \
  -d '{"messages": 1, "bogus": 2}' "${url}/v1/wait")"
[[ "${code}" == 400 ]] && grep -q INVALID_ARGUMENT "${tmp}/err.json" ||
  fail "an unknown field should be 400 INVALID_ARGUMENT, got ${code} $(cat "${tmp}/err.json")"

# A wait blocks on the server until the client's message arrives.
ctl wait --messages=1 --timeout=60s >"${tmp}/wait.txt" &
wait_pid=$!
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'HELLO\n' >&3
read -r -t 30 line <&3 || fail "no reply"
[[ "${line}" == "Received" ]] || fail "expected Received, got '${line}'"
wait "${wait_pid}" || fail "the wait failed: $(cat "${tmp}/wait.txt")"
grep -q '^got 1 messages' "${tmp}/wait.txt" || fail "wait said: $(cat "${tmp}/wait.txt")"

# Push bytes to the connection.
ctl send --connection=1 'PUSH\n' >/dev/null || fail "send failed"
read -r -t 30 line <&3 || fail "nothing pushed"
[[ "${line}" == "PUSH" ]] || fail "expected PUSH, got '${line}'"

# Pause and resume accepting.
ctl pause || fail "pause failed"
ctl status | grep -q '^listener paused' || fail "not paused"
ctl resume || fail "resume failed"
ctl status | grep -q '^listener accepting' || fail "not accepting again"

# The log, as text and JSON, and a wait that times out (exit 1) with what was seen.
ctl log | grep -q 'received 5 bytes "HELLO"' || fail "log: $(ctl log)"
ctl log --json | grep -q '"text":"HELLO"' || fail "log --json: $(ctl log --json)"
if ctl wait --messages=5 --timeout=100ms >"${tmp}/timeout.txt"; then
  fail "a wait for 5 messages succeeded"
else
  code=$?
  [[ "${code}" == 1 ]] || fail "a timed-out wait should exit 1, got ${code}"
fi
grep -q 'timed out waiting for 5 messages' "${tmp}/timeout.txt" || fail "$(cat "${tmp}/timeout.txt")"
grep -q 'HELLO' "${tmp}/timeout.txt" || fail "the timeout does not show what was seen"

# Reset for the next test: a changed reply restored, the connection closed, the log empty.
ctl reply 'CHANGED\n' || fail "reply failed"
ctl reset | grep -q '^1 connections' || fail "reset did not close the one connection"
read -r -t 30 line <&3 && fail "the connection stayed open after reset: '${line}'"
ctl status | grep -q '; 0 open connections;' || fail "connections after reset: $(ctl status)"
exec 4<>"/dev/tcp/127.0.0.1/${port}"
printf 'again\n' >&4
read -r -t 30 line <&4 || fail "no reply after reset"
[[ "${line}" == "Received" ]] || fail "reset did not restore the reply: '${line}'"
exec 4<&-

# The recording, written now: one rule, for what came after the reset.
ctl record | grep -q "^recorded 1 rules to ${tmp}/rec.textproto" || fail "record: $(ctl record)"
grep -q 'equals: "again"' "${tmp}/rec.textproto" ||
  fail "the recording lacks the message: $(cat "${tmp}/rec.textproto")"

# Usage errors exit 2; a fake that is not there exits 3.
if ctl explode 2>/dev/null; then fail "an unknown command succeeded"; else
  [[ $? == 2 ]] || fail "an unknown command should exit 2"; fi
if ctl send --connection=9 'x' 2>/dev/null; then fail "send to 9 succeeded"; else
  [[ $? == 2 ]] || fail "an unknown connection should exit 2"; fi

# Shut down through the API: graceful, the transcript kept.
ctl shutdown || fail "shutdown failed"
exec 3<&-
wait "${server_pid}" || fail "the server did not exit 0 after shutdown"
server_pid=""
# What came after the reset; what came before it went with the reset.
grep -q 'received 5 bytes "again"' "${tmp}/transcript.txt" ||
  fail "the transcript lacks the message: $(cat "${tmp}/transcript.txt")"
if "${bin}/fake_tcp_ctl" --control_address_file="${tmp}/control.json" \
  --address_timeout=1s status 2>/dev/null; then
  fail "status of a stopped fake succeeded"
else
  [[ $? == 3 ]] || fail "an unreachable fake should exit 3"
fi
echo PASS
