#!/usr/bin/env bash
# A real Remote Execution API engine on this machine: Bazel's own reference remote worker
# (src/tools/remote in Bazel's tree), compiled from Debian's bazel-bootstrap-source against the
# installed Bazel's server jar, served on 127.0.0.1 only by tools/remote/LoopbackWorker.java.
#
#   tools/remote/worker.sh start [--shared_network] [--jobs=N]
#       Installs what it needs (Debian packages, through the same apt path as tools/bazel),
#       compiles the worker once into the state folder, starts it on a free loopback port,
#       waits until it accepts, and writes tools/remote/worker.bazelrc so that
#       `tools/bazel test //... --config=remote` uses it. Every action runs in Bazel's
#       linux-sandbox; by default each in its own network namespace, with --shared_network
#       all in the worker's network (as many real workers run). Prints the endpoint.
#   tools/remote/worker.sh stop      Stops the worker this script started (only that one).
#   tools/remote/worker.sh status    Prints the endpoint and mode; exits 3 when not running.
#
# State (classes, CAS, work folder, log, pid, port) lives in $FAKE_TCP_WORKER_DIR, by default
# ~/.cache/fake_tcp_server/remote_worker (not under /tmp: actions get a fresh /tmp mounted).
# Nothing is downloaded: the worker's sources and every library it uses are Debian packages.
set -euo pipefail

readonly here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
readonly workspace="$(cd "${here}/../.." && pwd)"
readonly state="${FAKE_TCP_WORKER_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/fake_tcp_server/remote_worker}"
readonly server_jar=/usr/share/bazel/A-server.jar
readonly sandbox=/usr/libexec/x86_64-linux-gnu/bazel/linux-sandbox
readonly sources=/usr/src/bazel-bootstrap/src/tools/remote/src/main/java
readonly launcher="${here}/LoopbackWorker.java"
readonly bazelrc="${here}/worker.bazelrc"
readonly main_class=com.google.devtools.build.remote.worker.LoopbackWorker
readonly start_timeout=120

die() {
  echo "worker.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '5,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The pid of the worker this script started, if it is still that process; else nothing.
running_pid() {
  [[ -f "${state}/pid" ]] || return 0
  local pid
  pid="$(<"${state}/pid")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 0
  # Only our own process: the launcher class with this state folder on its command line.
  if tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q -- "${main_class} --work_path=${state}/work "; then
    echo "${pid}"
  fi
}

# Compiles the worker and the launcher once; again only when a package or the launcher changes.
build_worker() {
  # shellcheck source=../build/debian_packages.sh
  source "${workspace}/tools/build/debian_packages.sh"
  ensure_debian_packages worker.sh \
    "bazel-bootstrap:${server_jar}" \
    "bazel-bootstrap-source:${sources}/com/google/devtools/build/remote/worker/RemoteWorker.java" \
    "default-jdk-headless:/usr/bin/javac" || exit 1
  [[ -x "${sandbox}" ]] || die "${sandbox} is missing (Debian's bazel-bootstrap installs it)"
  local stamp
  stamp="$(dpkg-query -W -f '${Package}=${Version} ' bazel-bootstrap bazel-bootstrap-source) $(sha256sum <"${launcher}")"
  if [[ -f "${state}/classes.stamp" && "$(<"${state}/classes.stamp")" == "${stamp}" ]]; then
    return 0
  fi
  echo "worker.sh: compiling the reference remote worker into ${state}/classes" >&2
  rm -rf "${state}/classes" "${state}/classes.new"
  mkdir -p "${state}/classes.new"
  local -a srcs
  mapfile -t srcs < <(find "${sources}/com/google/devtools/build/remote/worker" -name '*.java')
  javac -nowarn -encoding UTF-8 -d "${state}/classes.new" -cp "${server_jar}" \
    "${srcs[@]}" "${launcher}" 2>&1 | grep -v '^Note: ' >&2 || true
  [[ -f "${state}/classes.new/com/google/devtools/build/remote/worker/LoopbackWorker.class" ]] ||
    die "javac failed"
  mv "${state}/classes.new" "${state}/classes"
  echo "${stamp}" >"${state}/classes.stamp"
}

cmd_start() {
  local network=isolated jobs=auto arg
  for arg in "$@"; do
    case "${arg}" in
      --shared_network) network=shared ;;
      --jobs=*) jobs="${arg#--jobs=}" ;;
      *) usage ;;
    esac
  done
  mkdir -p "${state}"
  local pid
  pid="$(running_pid)"
  if [[ -n "${pid}" ]]; then
    local running_network
    running_network="$(<"${state}/network")"
    [[ "${running_network}" == "${network}" ]] ||
      die "already running with ${running_network} per-action network (pid ${pid}); stop it first"
    write_bazelrc "$(<"${state}/port")"
    cmd_status
    return 0
  fi
  build_worker
  rm -f "${state}/port" "${state}/pid" "${bazelrc}"
  rm -rf "${state}/work"
  mkdir -p "${state}/work" "${state}/cas"
  local -a flags=(
    "--work_path=${state}/work"
    "--cas_path=${state}/cas"
    --listen_port=0
    "--port_file=${state}/port"
    "--jobs=${jobs}"
    --sandboxing
    "--sandbox_binary=${sandbox}"
    --sandboxing_tmpfs_dir=/tmp
  )
  [[ "${network}" == isolated ]] && flags+=(--sandboxing_block_network)
  # Its own session, so that stop can end the worker and every action it runs.
  setsid java -cp "${server_jar}:${state}/classes" "${main_class}" "${flags[@]}" \
    </dev/null >"${state}/log" 2>&1 &
  pid=$!
  echo "${pid}" >"${state}/pid"
  echo "${network}" >"${state}/network"

  # Wait for the launcher's "serving on" line (tail follows the log with inotify and ends when
  # the worker does), with a deadline.
  local fd tail_pid line ready=""
  exec {fd}< <(exec timeout "${start_timeout}" tail --pid="${pid}" -n +1 -f "${state}/log")
  tail_pid=$!
  while IFS= read -r -u "${fd}" line; do
    [[ "${line}" == "LoopbackWorker: serving on "* ]] && ready=1 && break
  done
  kill "${tail_pid}" 2>/dev/null || true
  exec {fd}<&-
  if [[ -z "${ready}" || ! -s "${state}/port" ]]; then
    kill -KILL -- "-${pid}" 2>/dev/null || true
    cat "${state}/log" >&2
    die "the worker did not start within ${start_timeout}s (log above: ${state}/log)"
  fi
  local port
  port="$(<"${state}/port")"
  # It accepts: a TCP connect succeeds.
  (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null ||
    die "the worker says it serves on ${port} but a connect fails (log: ${state}/log)"
  write_bazelrc "${port}"
  cmd_status
}

# Points --config=remote of this workspace at the worker on port $1.
write_bazelrc() {
  cat >"${bazelrc}" <<EOT
# Written by tools/remote/worker.sh start; removed by stop. Not committed.
build:remote --remote_executor=grpc://127.0.0.1:$1
EOT
}

cmd_stop() {
  local pid
  pid="$(running_pid)"
  rm -f "${bazelrc}"
  if [[ -z "${pid}" ]]; then
    rm -f "${state}/pid" "${state}/port"
    echo "worker.sh: not running"
    return 0
  fi
  kill -TERM -- "-${pid}" 2>/dev/null || true
  if ! timeout 30 tail --pid="${pid}" -f /dev/null; then
    kill -KILL -- "-${pid}" 2>/dev/null || true
    timeout 10 tail --pid="${pid}" -f /dev/null || die "pid ${pid} did not exit"
  fi
  rm -f "${state}/pid" "${state}/port"
  echo "worker.sh: stopped (pid ${pid})"
}

cmd_status() {
  local pid
  pid="$(running_pid)"
  if [[ -z "${pid}" || ! -s "${state}/port" ]]; then
    echo "worker.sh: not running"
    return 3
  fi
  echo "worker.sh: grpc://127.0.0.1:$(<"${state}/port") (pid ${pid}, per-action network" \
    "$(<"${state}/network"), state ${state})"
}

case "${1:-}" in
  start) shift && cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) usage ;;
esac
