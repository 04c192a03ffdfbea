#!/usr/bin/env bash
# Builds the fuzzers (--config=fuzz: clang, libFuzzer, AddressSanitizer) and runs each
# for SECONDS (default 60) from a copy of its seed corpus (server/fuzz/corpus/<name>).
# Prints the executions of each; on a finding prints the reproducer's path and exits 1.
# Add the reproducer to server/fuzz/corpus/<name>/ and fix the bug: its _test keeps it.
#
#   tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# The link prints a warning per ASan helper gold cannot export: shown only on failure.
tools/bazel build --config=fuzz //server/fuzz:all >"${work}/build.log" 2>&1 ||
  { cat "${work}/build.log"; exit 2; }
bin="$(tools/bazel info --config=fuzz bazel-bin 2>/dev/null)"
status=0
for name in framing script event_stream control_request; do
  mkdir -p "${work}/${name}/corpus" "${work}/${name}/findings"
  cp server/fuzz/corpus/"${name%_request}"/* "${work}/${name}/corpus/"
  if "${bin}/server/fuzz/${name}_fuzzer" -max_total_time="${seconds}" -print_final_stats=1 \
    -artifact_prefix="${work}/${name}/findings/" "${work}/${name}/corpus" \
    >"${work}/${name}/log" 2>&1; then
    runs="$(grep -m1 'stat::number_of_executed_units' "${work}/${name}/log" | awk '{print $2}')"
    echo "fuzz ${name}: ${runs} executions in ${seconds} s, no finding"
  else
    echo "fuzz ${name}: FINDING"
    grep -E 'ERROR|SUMMARY|Test unit written' "${work}/${name}/log" | head -20
    mkdir -p fuzz-findings
    cp "${work}/${name}/findings/"* fuzz-findings/ 2>/dev/null || true
    echo "reproducers copied to $(pwd)/fuzz-findings/"
    status=1
  fi
done
exit "${status}"
