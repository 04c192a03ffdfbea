#!/usr/bin/env bash
# Unpacks Abseil's source, as Debian builds its installed libraries (same version, same
# patches, same inline namespace), for builds that compile Abseil themselves: --config=tsan,
# where ThreadSanitizer must see absl::Mutex. Run by tools/bazel when a command names that
# config; does nothing when the source is already there.
#
#   tools/build/abseil_source.sh [DIR]   (default: $FAKE_TCP_ABSEIL_SOURCE, else
#                                          ~/.cache/fake_tcp_server/abseil)
#
# It needs a deb-src entry for the Debian archive the machine already uses: as root it adds
# one (/etc/apt/sources.list.d/fake_tcp_server-src.sources, a copy of the deb entries) and
# runs `apt-get source abseil=<the installed version>`. Nothing comes from outside Debian.
set -euo pipefail
dir="${1:-${FAKE_TCP_ABSEIL_SOURCE:-${HOME}/.cache/fake_tcp_server/abseil}}"
[[ -f "${dir}/absl/base/options.h" ]] && exit 0

version="$(dpkg-query -W -f '${source:Version}' libabsl-dev 2>/dev/null || true)"
[[ -n "${version}" ]] || {
  echo "abseil_source.sh: libabsl-dev is not installed (tools/bazel installs it)" >&2
  exit 1
}
if [[ "$(id -u)" != 0 ]]; then
  echo "abseil_source.sh: run as root once, or unpack it yourself:" >&2
  echo "  apt-get source abseil=${version} && mv abseil-*/ ${dir}" >&2
  exit 1
fi

src_list=/etc/apt/sources.list.d/fake_tcp_server-src.sources
if ! apt-get source --print-uris -qq "abseil=${version}" >/dev/null 2>&1; then
  echo "abseil_source.sh: adding deb-src entries to ${src_list}" >&2
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -f "${f}" && "${f}" != "${src_list}" ]] || continue
      # Each stanza that says "Types: deb" again as "Types: deb-src".
      awk 'BEGIN { RS = ""; ORS = "\n\n" } /(^|\n)Types:[^\n]*deb/ && /debian/ {
             sub(/Types:[^\n]*/, "Types: deb-src"); print }' "${f}"
    done
    if [[ -f /etc/apt/sources.list ]]; then
      grep -E '^deb .*debian' /etc/apt/sources.list |
        sed -E 's/^deb (\[[^]]*\] )?([^ ]+) ([^ ]+) (.*)$/Types: deb-src\nURIs: \2\nSuites: \3\nComponents: \4\n/'
    fi
  } >"${src_list}"
  apt-get update -qq >&2
fi
command -v dpkg-source >/dev/null || DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends dpkg-dev >&2

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
(cd "${work}" && apt-get source -qq "abseil=${version}" >&2)
mkdir -p "$(dirname "${dir}")"
rm -rf "${dir}"
mv "${work}"/abseil-*/ "${dir}"
echo "abseil_source.sh: Abseil ${version} unpacked in ${dir}" >&2
