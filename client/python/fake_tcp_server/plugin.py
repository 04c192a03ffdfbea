"""The pytest plugin: a `fake_tcp_server` fixture.

Found through its `pytest11` entry point once the package is installed, or loaded with
`-p fake_tcp_server.plugin` (what the Bazel macro does).

    def test_hello(fake_tcp_server):
        with socket.create_connection(fake_tcp_server.address) as s:
            s.sendall(b"Hello, Server")
            assert s.recv(8) == b"Received"

By default every test of a session (of an xdist worker) shares one fake, reset before the
test (log, script, reply, faults, paused state, open connections), so each starts clean in
about a millisecond. A test marked `@pytest.mark.fake_tcp_server(**options)`, or given
options through `@pytest.mark.parametrize("fake_tcp_server", [{...}], indirect=True)`, gets
a fresh fake of its own with those options (the standalone server's flags: port=9500,
framing="line", script=..., tls=True, ...). When a test fails, the fake's transcript is
attached to its report and, under Bazel, written to $TEST_UNDECLARED_OUTPUTS_DIR.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Iterator, Optional

import pytest

from fake_tcp_server.binary import BinaryNotFound
from fake_tcp_server.control import ControlError
from fake_tcp_server.server import FakeTcpServer, StartError

_FAKE = pytest.StashKey[FakeTcpServer]()
_SECTION = "fake_tcp_server transcript"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fake_tcp_server", "the fake TCP server")
    group.addoption(
        "--fake-tcp-server-bin",
        dest="fake_tcp_server_bin",
        default=None,
        help="the fake_tcp_server program (else $FAKE_TCP_SERVER_BIN, Bazel runfiles, PATH)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fake_tcp_server(**options): give the test a fresh fake with these options "
        "(the standalone server's flags, e.g. port=9500, framing='line') instead of the "
        "shared one",
    )


def _start(config: pytest.Config, options: Dict[str, Any]) -> FakeTcpServer:
    fake = FakeTcpServer(binary=config.getoption("fake_tcp_server_bin"), **options)
    try:
        return fake.start()
    except (StartError, BinaryNotFound) as e:
        fake.cleanup()
        pytest.fail(str(e), pytrace=False)
        raise  # not reached: pytest.fail raises


class SharedFake:
    """The session's fake, started on first use, started again if a test stopped it."""

    def __init__(self, config: pytest.Config):
        self._config = config
        self._fake: Optional[FakeTcpServer] = None

    def get(self) -> FakeTcpServer:
        if self._fake is not None and not self._fake.running:
            self._fake.cleanup()
            self._fake = None
        if self._fake is None:
            self._fake = _start(self._config, {})
        return self._fake

    def close(self) -> None:
        if self._fake is not None:
            self._fake.cleanup()
            self._fake = None


@pytest.fixture(scope="session")
def fake_tcp_server_session(request: pytest.FixtureRequest) -> Iterator[SharedFake]:
    """The fake every test of this session (or xdist worker) shares."""
    shared = SharedFake(request.config)
    yield shared
    shared.close()


def _options(request: pytest.FixtureRequest) -> Optional[Dict[str, Any]]:
    options: Optional[Dict[str, Any]] = None
    marker = request.node.get_closest_marker("fake_tcp_server")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(
                f"{request.node.nodeid}: @pytest.mark.fake_tcp_server takes keyword "
                f"options only, got {marker.args!r}"
            )
        options = dict(marker.kwargs)
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, dict):
            raise pytest.UsageError(
                f"{request.node.nodeid}: fake_tcp_server parameters are dicts of "
                f"options, got {param!r}"
            )
        options = {**(options or {}), **param}
    return options


@pytest.fixture
def fake_tcp_server(request: pytest.FixtureRequest) -> Iterator[FakeTcpServer]:
    """A running fake: `.address`, `.host`, `.port` and every control operation."""
    options = _options(request)
    if options is None:
        fake = request.getfixturevalue("fake_tcp_server_session").get()
        try:
            fake.reset()
        except ControlError as e:
            pytest.fail(f"fake_tcp_server: the shared fake could not be reset: {e}", False)
        request.node.stash[_FAKE] = fake
        yield fake
        return
    fake = _start(request.config, options)
    request.node.stash[_FAKE] = fake
    try:
        yield fake
    finally:
        fake.cleanup()


def _transcript(fake: FakeTcpServer) -> str:
    if fake.running:
        try:
            return fake.transcript()
        except ControlError as e:
            why = str(e)
    else:
        why = f"the fake exited with status {fake.returncode}"
    text = f"(no transcript from the control API: {why})\n"
    if fake.transcript_path and os.path.exists(fake.transcript_path):
        with open(fake.transcript_path, encoding="utf-8", errors="replace") as f:
            text += f.read()
    return text + "\noutput of the fake:\n" + (fake.output() or "(none)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    fake = item.stash.get(_FAKE, None)
    if fake is None:
        return
    text = _transcript(fake)
    report.sections.append((_SECTION, text))
    outputs = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
    if outputs:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid).strip("_")
        path = os.path.join(outputs, f"{name}.transcript.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        report.sections.append((_SECTION + " file", path))
