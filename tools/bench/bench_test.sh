#!/usr/bin/env bash
# //tools/bench runs end to end, small (a few launches, short loads, 20,000 messages),
# and prints every table and figure with numbers in it. Which mappings are the largest
# depends on the build (under ASan the shadow memory comes first), so only their form
# is checked.
set -euo pipefail
bench="$1"
out=$("${bench}" --launches=3 --clients=1,4 --duration=200ms --memory_messages=20000 \
  --large_reply_mib=8 --scale_connections=50 --bulk_mib=8)
echo "${out}"
for figure in "## Readiness (3 launches each)" \
  "| launch -> first TCP connect | " "| launch -> health SERVING | " \
  "| in process: Start() -> health SERVING | " "| idle RSS once ready (private; threads) | " \
  "## Fixture overhead" "| in process | " "| out of process | " \
  "| oneshot | 1 | " "| oneshot | 4 | " "| persistent | 1 | " "| persistent | 4 | " \
  "## Scale: many persistent connections" "| 50 | " \
  "## Bulk: 8 MiB through one connection" "| client -> fake, log at its default caps (64 MiB) | " \
  "| client -> fake, the log holds it all | " "| fake -> client, one reply (\`--reply_file\`) | " \
  "| idle, SERVING | " "| after 20000 messages (fake: 20000, bare: 20000; 0 errors) | " \
  "| after the log is cleared (MessageLog::Clear()) | " "20000 messages received, 0 entries dropped" \
  "Idle, from /proc/PID/smaps_rollup: RSS " "By mapping, the largest first: " \
  "| one reply of 8 MiB (\`--reply_file\`) to 4 clients at once: peak (VmHWM) | " \
  "## Control API" "| GET /v1/status round trip | " "| wait wake-up: a message sent -> its pending wait returns | " \
  "## Data path while a client polls the control API" \
  "## Python: the pytest plugin (readiness: grpc.health.v1 Watch)" \
  "| fresh fake: FakeTcpServer.start() to ready | " "| per test on the shared fake: reset | " \
  "| per test through pytest (200 tests with the fixture − without) | "; do
  grep -qF -- "${figure}" <<<"${out}" || { echo "missing: ${figure}"; exit 1; }
done
grep -qE -- "By mapping, the largest first: [^;]+ [0-9.]+ MB \(private [0-9.]+\)" <<<"${out}" ||
  { echo "the idle mappings are not listed with their sizes"; exit 1; }
# Every load row has a rate above zero for both servers and numeric ratios; the
# readiness and fixture rows a numeric ratio.
awk -F'|' '
  $2 ~ /^ (oneshot|persistent) $/ {
    if ($4 + 0 <= 0 || $7 + 0 <= 0 || $10 !~ /[0-9.]+x/ || $11 !~ /[0-9.]+x/) bad = bad $0 "\n"
  }
  $2 ~ /^ (launch -> first TCP connect|in process|out of process) $/ {
    if ($5 !~ /[0-9.]+x/) bad = bad $0 "\n"
  }
  $2 ~ /^ (client -> fake|fake -> client)/ {
    if ($3 !~ /[0-9]+ MB\/s/ || $4 !~ /[0-9]+ MB\/s/ || $5 !~ /[0-9.]+x/) bad = bad $0 "\n"
  }
  $2 ~ /^ 50 $/ {
    if ($5 + 0 <= 0 || $6 + 0 != 0 || $8 + 0 <= 0 || $9 + 0 != 0 || $11 !~ /[0-9.]+x/) bad = bad $0 "\n"
  }
  polling && /^\| [0-9]/ {
    if ($3 + 0 <= 0 || $6 !~ /[0-9.]+x/) bad = bad $0 "\n"
  }
  /^\| clients \| status polls\/s/ { polling = 1 }
  /^$/ { polling = 0 }
  END { if (bad != "") { printf "rows without a rate or a ratio:\n%s", bad; exit 1 } }
' <<<"${out}"
# Bad input is a usage error (2), not a crash.
for bad in --launches=0 --clients=0 --clients=x --modes=sometimes --sections=disk \
  --duration=0s --memory_messages=-1 --scale_connections=0 --bulk_mib=0; do
  rc=0; err=$("${bench}" "${bad}" 2>&1 >/dev/null) || rc=$?
  [[ ${rc} == 2 ]] || { echo "${bad}: exit ${rc}, want 2"; exit 1; }
  [[ ${err} == *"${bad%%=*}"* ]] || { echo "${bad}: the message does not name it: ${err}"; exit 1; }
done
# An error is exit 1 with a message naming what failed, not a crash.
rc=0; err=$(TMPDIR=/nonexistent TEST_TMPDIR= "${bench}" --launches=1 2>&1 >/dev/null) || rc=$?
[[ ${rc} == 1 && ${err} == *"mkdtemp /nonexistent/bench."* ]] || {
  echo "no temporary directory: exit ${rc}, said: ${err}"; exit 1
}
