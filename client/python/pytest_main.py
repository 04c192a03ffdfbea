"""The test runner of fake_tcp_py_test(): pytest with the fake_tcp_server plugin.

    pytest_main.py [--own_network] TEST_FILE... [-- PYTEST_ARGS...]

With --own_network it first starts itself again through //testing:own_network_exec, so
the session (and every fake it starts) runs in a network namespace of its own with only
loopback: port 9500 is the test's alone on any executor (FAKE_TCP_SERVER_OWN_NETWORK=0 in
the test's environment opts out, as for the C++ macro). Then pytest runs the files with
the plugin, JUnit XML where Bazel wants it ($XML_OUTPUT_FILE), and no cache directory.
"""

import os
import sys

_OPTED_OUT = ("0", "false", "no", "off")


def _runfile(path: str) -> str:
    for root in filter(None, (os.environ.get("RUNFILES_DIR"), os.environ.get("TEST_SRCDIR"))):
        for workspace in filter(None, (os.environ.get("TEST_WORKSPACE"), "fake_tcp_server")):
            candidate = os.path.join(root, workspace, path)
            if os.path.exists(candidate):
                return candidate
    raise FileNotFoundError(f"pytest_main: {path} is not in the runfiles")


def main(argv):
    own_network = "--own_network" in argv
    argv = [a for a in argv if a != "--own_network"]
    opted_out = os.environ.get("FAKE_TCP_SERVER_OWN_NETWORK", "").lower() in _OPTED_OUT
    if own_network and not opted_out and "FAKE_TCP_SERVER_NETWORK" not in os.environ:
        exe = _runfile("testing/own_network_exec")
        # Nothing else runs yet (no thread), so the namespace can be made.
        os.execv(exe, [exe, sys.executable, os.path.abspath(sys.argv[0])] + sys.argv[1:])
    import pytest  # pylint: disable=import-outside-toplevel

    files, _, extra = argv, None, []
    if "--" in argv:
        i = argv.index("--")
        files, extra = argv[:i], argv[i + 1 :]
    args = ["-p", "fake_tcp_server.plugin", "-p", "no:cacheprovider", "-v"]
    if os.environ.get("XML_OUTPUT_FILE"):
        args.append("--junitxml=" + os.environ["XML_OUTPUT_FILE"])
    return pytest.main(args + files + extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
