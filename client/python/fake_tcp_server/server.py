"""FakeTcpServer: run the standalone fake as a child process and drive it.

    with FakeTcpServer(framing="line", reply="OK\\n") as fake:
        sock = socket.create_connection(fake.address)
        ...
        fake.wait_for_messages(1, timeout=5)
        assert fake.messages() == [b"PING"]

Options are the standalone server's flags (tools/docs/fake_tcp_server.md), by name: `port=0`,
`framing="line"`, `reply_latency=0.05` (seconds, or "50ms"), `tls=True`, `script=PATH` or
a script dict (`fake_tcp_server.script`), `unix_socket=PATH` (or `True`: a socket file
made for it), ... A flag this class does not know is passed as it is, so every flag of
the program works. Start returns once the fake accepts: its
control API is up and, when grpcio is installed, its grpc.health.v1 endpoint says SERVING.
"""

from __future__ import annotations

import collections
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any, Deque, Dict, IO, List, Mapping, Optional, Sequence, Tuple

from fake_tcp_server import binary as binary_lib
from fake_tcp_server import health
from fake_tcp_server import script as script_lib
from fake_tcp_server.control import ControlClient, ControlError

# Flags whose values are durations: numbers are seconds.
_DURATION_FLAGS = {"reply_latency", "proxy_connect_timeout"}
# Flags given once per value: redact=["AUTH (\\S+)", "token=(\\w+)"].
_REPEATED_FLAGS = {"redact", "record_vary"}
# Flags this class sets itself.
# The longest path a Unix socket may have (sun_path less its NUL).
_MAX_SOCKET_PATH = 107
_MANAGED_FLAGS = {"control_address_file", "control_port"}
# The line the program prints once its control API listens (after writing the file).
_READY_LINE = "fake_tcp_server: control API on "
# Output lines kept for error messages, per stream.
_KEPT_LINES = 200


class StartError(RuntimeError):
    """The fake did not start: the message says why, with the command and its output."""


def _c_escape(data: bytes) -> str:
    """Bytes as a flag value in C escapes (the program unescapes --reply, --greeting)."""
    out = []
    for b in data:
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def _flag(name: str, value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    if isinstance(value, (bytes, bytearray)):
        return f"--{name}={_c_escape(bytes(value))}"
    if name == "unix_socket_mode" and isinstance(value, int):
        return f"--{name}={value:04o}"  # 0o660, as the flag spells it
    if name in _DURATION_FLAGS and isinstance(value, (int, float)):
        return f"--{name}={script_lib.duration(value)}"
    if isinstance(value, (list, tuple)):
        return f"--{name}={','.join(str(v) for v in value)}"
    return f"--{name}={value}"


def _flags(name: str, value: Any) -> List[str]:
    if name in _REPEATED_FLAGS:
        values = [value] if isinstance(value, (str, bytes)) else list(value or ())
        return [f"--{name}={v}" for v in values]
    flag = _flag(name, value)
    return [flag] if flag else []


class _Drain(threading.Thread):
    """Reads a child's stream to its end, keeping the last lines."""

    def __init__(self, stream: IO[bytes], kept: Deque[str]):
        super().__init__(daemon=True)
        self._stream = stream
        self._kept = kept

    def run(self) -> None:
        for line in iter(self._stream.readline, b""):
            self._kept.append(line.decode("utf-8", "replace").rstrip("\n"))
        self._stream.close()


class FakeTcpServer(ControlClient):
    """The standalone fake in a child process, and a control client of it.

    Every operation of `ControlClient` (status, messages, waits, send, pause, set_script,
    clear, reset, ...) is a method. `host`, `port`, `address` are the TCP listener's
    (`unix_socket` the socket's path instead, with `unix_socket=`; `connect()` works for
    both);
    `health_address` the grpc.health.v1 endpoint's; `transcript_path` the transcript the
    fake writes at exit; `tls_ca_file` the CA a TLS client trusts (with `tls=True`).
    """

    def __init__(
        self,
        binary: Optional[str] = None,
        *,
        port: int = 0,
        script: Any = None,
        args: Sequence[str] = (),
        env: Optional[Mapping[str, str]] = None,
        startup_timeout: float = 30.0,
        workdir: Optional[str] = None,
        **flags: Any,
    ):
        self._binary_arg = binary
        self._startup_timeout = startup_timeout
        self._env = dict(env) if env is not None else None
        self._extra_args = list(args)
        self._script = script
        managed = _MANAGED_FLAGS.intersection(flags)
        if managed:
            raise ValueError(f"FakeTcpServer: {', '.join(sorted(managed))} is set by the class")
        self._flags: Dict[str, Any] = {"port": port, "quiet": True}
        self._flags.update(flags)
        self._workdir_arg = workdir
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        self._process: Optional[subprocess.Popen] = None
        self._stdout: Deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self._stderr: Deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self._drains: List[_Drain] = []
        self.command: List[str] = []
        self.url, self._host, self._port, self._token, self._timeout = "", "", 0, "", 30.0
        self.host = ""
        self.port = 0
        self.unix_socket = ""
        self._socket_dir: Optional[str] = None
        self.health_address = ""
        self.transcript_path = ""
        self.tls_ca_file = ""
        self.ready_by = ""
        self.returncode: Optional[int] = None
        self._shutting_down = False

    # --- lifecycle --------------------------------------------------------------------

    @property
    def address(self) -> Any:
        """(host, port) of the TCP listener, for socket.create_connection; on a Unix
        socket its address for socket.connect (the path, or "\\0name" for "@name")."""
        if self.unix_socket:
            return "\0" + self.unix_socket[1:] if self.unix_socket[0] == "@" else self.unix_socket
        return (self.host, self.port)

    def connect(self, timeout: float = 30.0) -> socket.socket:
        """A socket connected to the fake, over TCP or its Unix socket."""
        if not self.unix_socket:
            return socket.create_connection(self.address, timeout=timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self.address)
        except BaseException:
            sock.close()
            raise
        return sock

    @property
    def pid(self) -> int:
        return self._process.pid if self._process else 0

    @property
    def running(self) -> bool:
        if self._process is None:
            return False
        if self._process.poll() is None:
            return True
        self.returncode = self._process.returncode  # it exited (or was killed)
        return False

    def output(self) -> str:
        """The last lines the fake printed (stdout, then stderr)."""
        return "\n".join(list(self._stdout) + list(self._stderr))

    def _command(self, workdir: str) -> List[str]:
        flags = dict(self._flags)
        if self._script is not None:
            if isinstance(self._script, (str, os.PathLike)):
                flags["script"] = os.fspath(self._script)
            else:
                path = os.path.join(workdir, "script.json")
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(script_lib.as_script(self._script), f)
                flags["script"] = path
        if flags.get("unix_socket") is True:
            flags["unix_socket"] = self._socket_path(workdir)
        flags.setdefault("transcript", os.path.join(workdir, "transcript.txt"))
        flags.setdefault("health_port", 0)
        if flags.get("tls"):
            flags.setdefault("tls_ca_file", os.path.join(workdir, "ca.pem"))
        flags["control_address_file"] = os.path.join(workdir, "control.json")
        # No fake outlives this process: it stops when the pipe to its stdin closes.
        flags["stop_on_stdin_eof"] = True
        command = [binary_lib.find_binary(self._binary_arg)]
        for k, v in flags.items():
            command += _flags(k, v)
        command += self._extra_args
        self.transcript_path = str(flags["transcript"])
        self.tls_ca_file = str(flags.get("tls_ca_file") or "")
        return command

    def _socket_path(self, workdir: str) -> str:
        """fake.sock in `workdir`, or in a directory of its own under /tmp when that path
        is longer than a Unix socket path may be (107 bytes; Bazel's are often longer)."""
        path = os.path.join(workdir, "fake.sock")
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        self._socket_dir = tempfile.mkdtemp(prefix="fake_tcp.", dir="/tmp")
        return os.path.join(self._socket_dir, "fake.sock")

    def start(self) -> "FakeTcpServer":
        """Starts the fake and returns once it accepts; raises StartError (with the
        command, exit status and output) when it does not within startup_timeout."""
        if self._process is not None:
            raise RuntimeError("FakeTcpServer.start: already started")
        workdir = self._workdir_arg
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fake_tcp_server.")
            workdir = self._tmp.name
        self.command = self._command(workdir)
        deadline = time.monotonic() + self._startup_timeout
        try:
            self._process = subprocess.Popen(
                self.command,
                # No preexec_fn: it forces fork() over vfork(), and a fork() after
                # grpcio has run crashes in its fork handlers.
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
            )
        except OSError as e:
            raise StartError(f"fake_tcp_server: cannot run {self.command[0]}: {e}") from e
        try:
            self._await_ready_line(deadline)
            control = os.path.join(workdir, "control.json")
            with open(control, encoding="utf-8") as f:
                address = json.load(f)
            self._configure(address["url"], address["token"], 30.0)
            listener = address["tcp_address"]
            if listener.startswith("unix:"):
                self.unix_socket = listener[len("unix:") :]
            else:
                host, _, port = listener.rpartition(":")
                self.host, self.port = host.strip("[]"), int(port)
            self.health_address = address.get("health_address", "")
            self._await_accepting(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _await_ready_line(self, deadline: float) -> None:
        """Reads stdout until the control API's line; the program writes the address
        file before it prints that line."""
        assert self._process and self._process.stdout and self._process.stderr
        stdout = self._process.stdout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            buffered = b""
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self._fail(f"not ready after {self._startup_timeout} s")
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    self._fail("exited before it was ready")
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    text = line.decode("utf-8", "replace")
                    self._stdout.append(text)
                    if text.startswith(_READY_LINE):
                        if buffered:
                            self._stdout.append(buffered.decode("utf-8", "replace"))
                        self._drains = [
                            _Drain(stdout, self._stdout),
                            _Drain(self._process.stderr, self._stderr),
                        ]
                        for d in self._drains:
                            d.start()
                        return

    def _await_accepting(self, deadline: float) -> None:
        left = max(0.1, deadline - time.monotonic())
        if health.available() and self.health_address and not self._flags.get("health_tls"):
            try:
                health.wait_until_serving(self.health_address, "", left)
            except TimeoutError as e:
                self._fail(str(e))
            self.ready_by = "grpc.health.v1 Watch"
            return
        try:
            listener = self.status().listener
        except ControlError as e:
            self._fail(str(e))
        if listener != "accepting":
            self._fail(f"its listener is {listener}")
        self.ready_by = "control API status"

    def _fail(self, why: str) -> None:
        assert self._process is not None
        if self._process.poll() is None:
            self._process.kill()
        rc = self._process.wait()
        for stream, kept in ((self._process.stdout, self._stdout), (self._process.stderr, self._stderr)):
            if stream and not stream.closed and not self._drains:
                for line in stream.read().decode("utf-8", "replace").splitlines():
                    kept.append(line)
        if self._process.stdin and not self._process.stdin.closed:
            self._process.stdin.close()
        for d in self._drains:
            d.join(5)
        raise StartError(
            f"fake_tcp_server did not start: {why} (exit status {rc})\n"
            f"command: {' '.join(self.command)}\n"
            f"output:\n{self.output() or '(none)'}"
        )

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """Stops the fake as SIGTERM does (it writes its transcript and recording) and
        returns its exit status; kills it if it has not exited after `timeout` s."""
        process = self._process
        if process is None:
            return None
        if self._shutting_down and process.poll() is None:
            try:  # a second SIGTERM would cut its shutdown short
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdin and not process.stdin.closed:
            process.stdin.close()
        for d in self._drains:
            d.join(5)
        for stream in (process.stdout, process.stderr):
            if stream and not stream.closed and not self._drains:
                stream.close()
        self.returncode = process.returncode
        return self.returncode

    def shutdown(self) -> None:
        """Asks the fake to shut down through its control API (as SIGTERM does); `wait_exit()`
        or `stop()` then returns its exit status."""
        super().shutdown()
        self._shutting_down = True

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Waits for the fake to exit; returns its exit status (raises
        subprocess.TimeoutExpired after `timeout` s)."""
        if self._process is None:
            raise RuntimeError("FakeTcpServer.wait_exit: not started")
        self.returncode = self._process.wait(timeout)
        return self.returncode

    def cleanup(self) -> None:
        """Stops the fake and removes its temporary directory (transcript included)."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def __enter__(self) -> "FakeTcpServer":
        if self._process is None:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped" if self._process else "not started"
        where = f"unix:{self.unix_socket}" if self.unix_socket else f"{self.host}:{self.port}"
        return f"FakeTcpServer({where}, {state})"
