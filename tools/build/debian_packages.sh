# Sourced by tools/bazel and tools/remote/worker.sh: one way to install missing Debian packages.
#
# ensure_debian_packages WHO PACKAGE:FILE...
#   Installs every PACKAGE whose FILE is missing (a cheap presence test; dpkg-query is ~10x
#   slower) with apt-get, as root. As another user it prints the exact command and returns 1.
#   WHO names the caller in messages.
ensure_debian_packages() {
  local who="$1"
  shift
  local entry missing=()
  for entry in "$@"; do
    [[ -e "${entry#*:}" ]] || missing+=("${entry%%:*}")
  done
  ((${#missing[@]} == 0)) && return 0
  local cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
  if [[ "$(id -u)" != 0 ]]; then
    echo "${who}: missing Debian packages: ${missing[*]}" >&2
    echo "${who}: run as root: apt-get update && ${cmd[*]}" >&2
    return 1
  fi
  echo "${who}: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${cmd[@]}" >&2
}
