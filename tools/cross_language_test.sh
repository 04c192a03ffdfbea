#!/usr/bin/env bash
# A test that is not C++ uses the standalone fake: start it from runfiles on a free
# port, wait for readiness with health_probe, drive it with send, stop it, check the
# transcript. The child is cleaned up even when a step fails.
set -euo pipefail

bin="${TEST_SRCDIR}/${TEST_WORKSPACE}/tools"
tmp="$(mktemp -d "${TEST_TMPDIR}/cross.XXXXXX")"
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

"${bin}/fake_tcp_server" --port=0 --framing=line --reply='OK\n' \
  --address_file="${tmp}/addr" --health_address_file="${tmp}/health" \
  --transcript="${tmp}/transcript.txt" >"${tmp}/server.out" 2>&1 &
server_pid=$!

# Blocks on Health/Watch until SERVING (no sleep, no polling).
"${bin}/health_probe" -addr_file="${tmp}/health" -service=fake_tcp_server -wait=30s ||
  fail "the fake never became SERVING"
addr="$(cat "${tmp}/addr")"

reply="$("${bin}/send" --address="${addr}" --data='SET k v' --framing=line \
  --wait='until:\n')" || fail "send failed"
[[ "${reply}" == "OK" ]] || fail "expected OK, got '${reply}'"

# Bytes from stdin, and from a file.
reply="$(printf 'GET k' | "${bin}/send" --address="${addr}" --file=- --framing=line \
  --wait='until:\n')" || fail "send --file=- failed"
[[ "${reply}" == "OK" ]] || fail "expected OK from stdin, got '${reply}'"
printf 'DEL k' >"${tmp}/request"
reply="$("${bin}/send" --address="${addr}" --file="${tmp}/request" --framing=line \
  --wait='until:\n')" || fail "send --file failed"
[[ "${reply}" == "OK" ]] || fail "expected OK from a file, got '${reply}'"

# A refused connection has its own exit code.
if "${bin}/send" --address=127.0.0.1:1 --data=x 2>/dev/null; then
  fail "send to a closed port succeeded"
else
  code=$?
  [[ "${code}" == 3 ]] || fail "refused should exit 3, got ${code}"
fi

kill -TERM "${server_pid}"
wait "${server_pid}" || fail "the server did not exit 0 on SIGTERM"
server_pid=""

grep -q 'received 7 bytes "SET k v"' "${tmp}/transcript.txt" ||
  fail "the transcript lacks the message: $(cat "${tmp}/transcript.txt")"
grep -q 'sent 3 bytes "OK\\n"' "${tmp}/transcript.txt" ||
  fail "the transcript lacks the reply"
grep -q 'received 5 bytes "GET k"' "${tmp}/transcript.txt" ||
  fail "the transcript lacks the message from stdin"
grep -q 'received 5 bytes "DEL k"' "${tmp}/transcript.txt" ||
  fail "the transcript lacks the message from a file"
echo "PASS"
