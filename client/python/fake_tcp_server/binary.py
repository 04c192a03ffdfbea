"""Finding the fake_tcp_server program."""

from __future__ import annotations

import os
import shutil
from typing import List, Optional

# The environment variable that names the program.
BIN_ENV = "FAKE_TCP_SERVER_BIN"
# Where the program sits in Bazel runfiles: this workspace's own, or this module seen from
# another workspace as @fake_tcp_server.
_RUNFILES_PATH = "tools/fake_tcp_server"
_MODULE_WORKSPACE = "fake_tcp_server"


class BinaryNotFound(FileNotFoundError):
    """No fake_tcp_server program was found; the message lists where it looked."""


def _runfiles_candidates() -> List[str]:
    roots = [os.environ.get(v) for v in ("RUNFILES_DIR", "TEST_SRCDIR")]
    workspaces = [os.environ.get("TEST_WORKSPACE"), _MODULE_WORKSPACE]
    found: List[str] = []
    for root in filter(None, roots):
        for ws in filter(None, workspaces):
            found.append(os.path.join(root, ws, _RUNFILES_PATH))
    manifest = os.environ.get("RUNFILES_MANIFEST_FILE")
    if manifest and os.path.isfile(manifest):
        wanted = {f"{ws}/{_RUNFILES_PATH}" for ws in filter(None, workspaces)}
        with open(manifest, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition(" ")
                if key in wanted and value:
                    found.append(value)
    return found


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_binary(explicit: Optional[str] = None) -> str:
    """The fake_tcp_server program to run.

    In this order: `explicit` (an argument, or the plugin's --fake-tcp-server-bin), the
    FAKE_TCP_SERVER_BIN environment variable, Bazel runfiles (a test that depends on
    //tools:fake_tcp_server), then `fake_tcp_server` on PATH. An explicit choice that is
    not an executable file is an error, never skipped for the next place.
    """
    for source, value in (("argument", explicit), (BIN_ENV, os.environ.get(BIN_ENV))):
        if value:
            if not _executable(value):
                raise BinaryNotFound(
                    f"fake_tcp_server: {source} {value!r} is not an executable file"
                )
            return os.path.abspath(value)
    looked = []
    for candidate in _runfiles_candidates():
        if _executable(candidate):
            return candidate
        looked.append(candidate)
    on_path = shutil.which("fake_tcp_server")
    if on_path:
        return on_path
    where = ", ".join(looked) if looked else "no Bazel runfiles"
    raise BinaryNotFound(
        "fake_tcp_server: the program was not found. Pass --fake-tcp-server-bin=PATH "
        f"(pytest) or binary=PATH, set {BIN_ENV}, add //tools:fake_tcp_server to the "
        f"test's data in Bazel, or put it on PATH (looked in: {where}; PATH)"
    )
