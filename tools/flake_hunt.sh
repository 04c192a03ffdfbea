#!/usr/bin/env bash
# Runs the fixture and example tests (all on the fixed port 9500) RUNS times each on
# each EXECUTOR and prints how many runs failed; exits 1 if any did.
#
#   tools/flake_hunt.sh [RUNS] [EXECUTOR...]
#
# RUNS defaults to 200; executors (default: all four):
#   linux-sandbox            each test in the sandbox's network namespace
#   standalone               no sandbox: each test makes its own namespace
#   processwrapper-sandbox   no namespace from the sandbox either
#   remote                   the reference worker with actions sharing its network
#                            (started here and stopped after, unless already running)
# FLAKE_HUNT_TESTS (space-separated patterns) replaces the default test set:
#   //testing/... //server:fake_tcp_server_test
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"
shift || true
executors=("$@")
((${#executors[@]})) || executors=(linux-sandbox standalone processwrapper-sandbox remote)
read -r -a tests <<<"${FLAKE_HUNT_TESTS:-//testing/... //server:fake_tcp_server_test}"

failed=0
for executor in "${executors[@]}"; do
  flags=(--runs_per_test="${runs}" --nocache_test_results --test_summary=short)
  started_worker=""
  case "${executor}" in
    linux-sandbox | standalone | processwrapper-sandbox)
      flags+=(--spawn_strategy="${executor}")
      ;;
    remote)
      if ! tools/remote/worker.sh status >/dev/null; then
        tools/remote/worker.sh start --shared_network
        started_worker=1
      fi
      flags+=(--config=remote --jobs=4)
      ;;
    *)
      echo "flake_hunt.sh: unknown executor ${executor}" >&2
      exit 2
      ;;
  esac
  start=$(date +%s)
  if tools/bazel test "${tests[@]}" "${flags[@]}" >"/tmp/flake_hunt.$$.log" 2>&1; then
    result="0 failed"
  else
    result="FAILURES:"
    failed=1
  fi
  [[ -n "${started_worker}" ]] && tools/remote/worker.sh stop >/dev/null
  count=$(grep -cE '^//.*(PASSED|FAILED|FLAKY)' "/tmp/flake_hunt.$$.log" || true)
  echo "flake hunt, ${executor}: ${count} targets x ${runs} runs in $(($(date +%s) - start)) s: ${result}"
  if [[ "${result}" != "0 failed" ]]; then
    grep -E '^//.*(FAILED|FLAKY)|TIMEOUT' "/tmp/flake_hunt.$$.log" || tail -40 "/tmp/flake_hunt.$$.log"
  fi
  rm -f "/tmp/flake_hunt.$$.log"
done
exit "${failed}"
