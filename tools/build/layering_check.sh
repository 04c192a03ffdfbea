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

err=$(mktemp)
trap 'rm -f "${err}"' EXIT
failed=0
# Labels, one per line, reachable from the targets of PATTERN through `deps` attributes only:
# what they link. `deps()` in a query also follows `data` (a test that runs a program is
# not linking it), so the closure is taken here a level at a time.
query() {
  local out
  if ! out=$("${bazel}" query --noshow_progress "$1" 2>"${err}"); then
    echo "layering: bazel query failed: $1" >&2
    cat "${err}" >&2
    return 2
  fi
  grep -v '^@' <<<"${out}" || true
}
linked() {
  local seen frontier next
  frontier=$(query "kind(rule, $1)") || return 2
  seen=${frontier}
  while [[ -n "${frontier}" ]]; do
    next=$(query "kind(rule, labels(deps, set(${frontier//$'\n'/ })))") || return 2
    frontier=$(comm -13 <(sort -u <<<"${seen}") <(sort -u <<<"${next}") | sed '/^$/d')
    seen=$(printf '%s\n%s\n' "${seen}" "${frontier}" | sed '/^$/d')
  done
  sort -u <<<"${seen}"
}

# check NAME FROM FORBIDDEN_REGEX: nothing FROM links may match FORBIDDEN_REGEX.
check() {
  local name=$1 from=$2 forbidden=$3
  local all hits
  all=$(linked "${from}") || exit 2
  hits=$(grep -E "${forbidden}" <<<"${all}" || true)
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

# Inside server/, each concept's libraries link only the concepts below it (its tests may
# run the whole server). A package may use those listed after it, and base:
#   control -> health -> (core: //server) -> record -> script -> options ->
#   log, framing, reply, tls -> base
# below PKG ALLOWED [core]: the libraries of //server/PKG ('' for the core) link only
# //server/base, the packages in ALLOWED (a regex of names), and with "core" //server.
below() {
  local pkg=$1 allowed=$2 core=${3:-} self all hits
  if [[ -z "${pkg}" ]]; then self='//server:'; else self="//server/${pkg}[:/]"; fi
  [[ "${core}" == core ]] && self="${self}|//server:"
  all=$(linked "kind(\"cc_library|proto_library\", //server${pkg:+/${pkg}}:all)") || exit 2
  hits=$(grep '^//server' <<<"${all}" | grep -vE "^(${self}|//server/(base|${allowed})[:/])" || true)
  if [[ -n "${hits}" ]]; then
    echo "layering: //server${pkg:+/${pkg}} links what is not below it:"
    echo "${hits}" | sed 's/^/  /'
    failed=1
  fi
}
level1='log|framing|reply|tls'
for pkg in log framing reply tls; do below "${pkg}" NONE; done
below options "${level1}"
below script "options|${level1}"
below record "script|options|${level1}"
below '' "record|script|options|${level1}"
below health "record|script|options|${level1}" core
[[ "${failed}" == 0 ]] && echo "layering: server/ concepts point down: ok"

# Includes say the same, for a header reached without a BUILD edge (which a sandboxed
# build would reject anyway, but this names the file).
if grep -rnE '#include "(tools|testing)/' server client; then
  echo "layering: a file in server/ or client/ includes from tools/ or testing/"
  failed=1
fi
exit "${failed}"
