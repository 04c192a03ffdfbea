#!/usr/bin/env bash
# Runs every C++ test binary of the static build in a bare root, as a remote worker with
# nothing installed would: only the binary and its runfiles (copied, symlinks resolved),
# /etc/hosts, a fresh /tmp, /proc and /dev, loopback only (its own network and pid
# namespaces), no /usr. Prints one line per test and exits 1 if any fails.
#
#   tools/bazel build --config=static //...   (first)
#   tools/remote/bare_root_tests.sh [LABEL...]   (default: every cc_test without no_static)
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v bwrap >/dev/null || {
  echo "bare_root_tests.sh: bwrap not found (tools/bazel installs bubblewrap)" >&2
  exit 2
}
if (($# > 0)); then
  labels=("$@")
else
  mapfile -t labels < <(tools/bazel query --noshow_progress \
    'kind(cc_test, //...) except attr(tags, no_static, //...)' 2>/dev/null)
fi
bin="$(tools/bazel info --config=static bazel-bin 2>/dev/null)"
root="$(mktemp -d)"
trap 'rm -rf "${root}"' EXIT

failed=0
for label in "${labels[@]}"; do
  path="${label#//}"
  path="${path/://}"
  name="$(basename "${path}")"
  if ! file -L "${bin}/${path}" | grep -q 'statically linked'; then
    echo "FAIL ${label}: ${bin}/${path} is not a static binary (build with --config=static)"
    failed=1
    continue
  fi
  rm -rf "${root:?}"/*
  cp -L "${bin}/${path}" "${root}/${name}"
  cp -rL "${bin}/${path}.runfiles" "${root}/${name}.runfiles"
  # The manifest lists host paths; without it the runfiles library reads the tree.
  rm -f "${root}/${name}.runfiles/MANIFEST"
  mkdir -p "${root}/${name}.runfiles/fake_tcp_server"
  start=$(date +%s%N)
  if bwrap --ro-bind "${root}" /t --ro-bind /etc/hosts /etc/hosts --tmpfs /tmp \
    --proc /proc --dev /dev --unshare-net --unshare-pid --die-with-parent --new-session \
    --chdir "/t/${name}.runfiles/fake_tcp_server" \
    --clearenv --setenv PATH /nonexistent --setenv TEST_TMPDIR /tmp \
    --setenv TEST_SRCDIR "/t/${name}.runfiles" --setenv RUNFILES_DIR "/t/${name}.runfiles" \
    --setenv TEST_WORKSPACE fake_tcp_server --setenv TEST_UNDECLARED_OUTPUTS_DIR /tmp \
    "/t/${name}" >"${root}/log" 2>&1; then
    echo "PASS ${label} ($((($(date +%s%N) - start) / 1000000)) ms)"
  else
    echo "FAIL ${label}:"
    tail -40 "${root}/log"
    failed=1
  fi
done
exit "${failed}"
