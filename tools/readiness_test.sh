#!/usr/bin/env bash
# //tools:readiness runs end to end (a few launches) and prints every figure.
set -euo pipefail
out=$("$1" --launches=3)
echo "${out}"
for figure in "fake_tcp_server: launch -> first TCP connect" \
  "bare epoll server: launch -> first TCP connect" \
  "fake_tcp_server: launch -> health SERVING" \
  "in process: Start() -> health SERVING" "idle RSS once SERVING" "ratio fake / bare"; do
  grep -qF "${figure}" <<<"${out}" || { echo "missing: ${figure}"; exit 1; }
done
# Bad input is a usage error, not a crash.
if "$1" --launches=0 2>/dev/null; then echo "--launches=0 accepted"; exit 1; fi
