"""fake_tcp_server: the fake TCP server from Python.

`FakeTcpServer` runs the standalone fake as a child process and drives it through its
control API; `ControlClient` drives one that runs already; `script` builds scripts,
matchers and faults. The pytest plugin (`fake_tcp_server.plugin`) gives tests a
`fake_tcp_server` fixture.
"""

from fake_tcp_server import script
from fake_tcp_server.binary import BIN_ENV, BinaryNotFound, find_binary
from fake_tcp_server.control import (
    Connection,
    ControlClient,
    ControlError,
    Entry,
    LogPage,
    Status,
    WaitResult,
    WaitTimeout,
)
from fake_tcp_server.server import FakeTcpServer, StartError

__all__ = [
    "BIN_ENV",
    "BinaryNotFound",
    "Connection",
    "ControlClient",
    "ControlError",
    "Entry",
    "FakeTcpServer",
    "LogPage",
    "StartError",
    "Status",
    "WaitResult",
    "WaitTimeout",
    "find_binary",
    "script",
]
