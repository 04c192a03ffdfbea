#!/usr/bin/env bash
# Checks, from the BUILD graph, that dependencies point one way (README.md, "Layout"):
#   server/base  depends on nothing of ours;
#   server/, client/  (their tests included) depend on nothing in testing/ or tools/;
#   testing/  depends on nothing in tools/.
# "Depends" is what a target links (its `deps`, transitively); running a program as a
# test's `data` is allowed (the fixture and the Python plugin run //tools:fake_tcp_server).
# A violation names every offending target. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel=${BAZEL:-tools/bazel}

failed=0
# Labels, one per line, reachable from the targets of PATTERN through `deps` attributes only:
# what they link. `deps()` in a query also follows `data` (a test that runs a program is
# not linking it), so the closure is taken here a level at a time.
linked() {
  local seen frontier next
  frontier=$("${bazel}" query --noshow_progress "kind(rule, $1)" 2>/dev/null)
  seen=${frontier}
  while [[ -n "${frontier}" ]]; do
    next=$("${bazel}" query --noshow_progress \
      "kind(rule, labels(deps, set(${frontier//$'\n'/ })))" 2>/dev/null |
      grep -v '^@' || true)
    frontier=$(comm -13 <(sort -u <<<"${seen}") <(sort -u <<<"${next}"))
    seen=$(printf '%s\n%s\n' "${seen}" "${frontier}" | sed '/^$/d')
  done
  sort -u <<<"${seen}"
}

# check NAME FROM FORBIDDEN_REGEX: nothing FROM links may match FORBIDDEN_REGEX.
check() {
  local name=$1 from=$2 forbidden=$3
  local hits
  hits=$(linked "${from}" | grep -E "${forbidden}" || true)
  if [[ -n "${hits}" ]]; then
    echo "layering: ${name}: linked from ${from}:"
    echo "${hits}" | sed 's/^/  /'
    failed=1
  else
    echo "layering: ${name}: ok"
  fi
}

# //tools/build is build plumbing every package loads (Starlark macros, config settings,
# the fuzz driver, sanitizer suppressions), not a layer of code; it is left out.
check "server/base is the leaf" '//server/base/...' \
  '^//(server/[^b]|server:|server/b[^a]|client|testing|tools[:/][^b])'
check "server/ and client/ link nothing of testing/ or tools/" \
  '//server/... + //client/...' '^//(testing|tools:|tools/[^b])'
check "testing/ links nothing of tools/" '//testing/...' '^//tools(:|/[^b])'

# Includes say the same, for a header reached without a BUILD edge (which a sandboxed
# build would reject anyway, but this names the file).
if grep -rnE '#include "(tools|testing)/' server client; then
  echo "layering: a file in server/ or client/ includes from tools/ or testing/"
  failed=1
fi
exit "${failed}"
