"""The pytest plugin, run on test files of its own with pytest's pytester (each in a new
pytest process, as a user runs it)."""

import json

import pytest

from fake_tcp_server import find_binary

PLUGIN = ("-p", "fake_tcp_server.plugin", "-p", "no:cacheprovider")

ORIGINAL = """
import socket

def test_hello(fake_tcp_server):
    with socket.create_connection(fake_tcp_server.address, timeout=30) as s:
        s.sendall(b"Hello, Server")
        assert s.recv(1024) == b"Received"
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*PLUGIN, *args, timeout=120)


def test_the_original_test_takes_the_fixture(pytester):
    pytester.makepyfile(ORIGINAL)
    result = run(pytester)
    result.assert_outcomes(passed=1)


def test_a_failing_test_carries_the_transcript(pytester, monkeypatch, tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    monkeypatch.setenv("TEST_UNDECLARED_OUTPUTS_DIR", str(outputs))
    pytester.makepyfile(
        """
        import socket

        def test_fails(fake_tcp_server):
            with socket.create_connection(fake_tcp_server.address, timeout=30) as s:
                s.sendall(b"Hello, Server")
                s.recv(1024)
            fake_tcp_server.wait_for_messages(1, timeout=30)
            assert False, "the code under test misbehaved"

        def test_passes(fake_tcp_server):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*fake_tcp_server transcript*", '*received 13 bytes "Hello, Server"*']
    )
    [written] = list(outputs.iterdir())
    assert written.name == "test_a_failing_test_carries_the_transcript.py_test_fails.transcript.txt"
    assert 'received 13 bytes "Hello, Server"' in written.read_text()


def test_every_test_starts_clean_on_the_shared_fake(pytester):
    pytester.makepyfile(
        """
        import socket
        from fake_tcp_server import script as s

        first = {}

        def test_dirty(fake_tcp_server):
            first["pid"] = fake_tcp_server.pid
            with socket.create_connection(fake_tcp_server.address, timeout=30) as c:
                c.sendall(b"dirt")
                assert c.recv(8) == b"Received"
            fake_tcp_server.set_script(s.script(fallback=b"SCRIPTED"))
            fake_tcp_server.pause()

        def test_clean(fake_tcp_server):
            assert fake_tcp_server.pid == first["pid"]  # the same fake, reset
            status = fake_tcp_server.status()
            assert status.listener == "accepting"
            assert fake_tcp_server.messages() == []
            with socket.create_connection(fake_tcp_server.address, timeout=30) as c:
                c.sendall(b"x")
                assert c.recv(8) == b"Received"

        def test_shuts_it_down(fake_tcp_server):
            fake_tcp_server.shutdown()
            fake_tcp_server.wait_exit(30)

        def test_gets_a_new_one(fake_tcp_server):
            assert fake_tcp_server.pid != first["pid"]
            assert fake_tcp_server.status().listener == "accepting"
        """
    )
    run(pytester).assert_outcomes(passed=4)


def test_a_marker_or_a_parameter_gives_a_fresh_fake_with_options(pytester):
    pytester.makepyfile(
        """
        import socket
        import pytest

        shared = {}

        def test_shared(fake_tcp_server):
            shared["pid"] = fake_tcp_server.pid

        @pytest.mark.fake_tcp_server(port=9500, framing="line", reply="LINE\\\\n")
        def test_on_9500(fake_tcp_server):
            assert fake_tcp_server.port == 9500
            assert fake_tcp_server.pid != shared["pid"]
            with socket.create_connection(("127.0.0.1", 9500), timeout=30) as c:
                c.sendall(b"a\\nb\\n")
                assert c.recv(10) in (b"LINE\\nLINE\\n", b"LINE\\n")
            fake_tcp_server.wait_for_messages(2, timeout=30)
            assert fake_tcp_server.messages() == [b"a", b"b"]

        @pytest.mark.parametrize(
            "fake_tcp_server", [{"reply": "ONE"}, {"reply": "TWO"}], indirect=True)
        def test_parameters(fake_tcp_server):
            with socket.create_connection(fake_tcp_server.address, timeout=30) as c:
                c.sendall(b"x")
                assert c.recv(3) in (b"ONE", b"TWO")
        """
    )
    run(pytester).assert_outcomes(passed=4)


def test_a_missing_program_says_where_it_looked(pytester, monkeypatch):
    monkeypatch.setenv("FAKE_TCP_SERVER_BIN", "/nonexistent/fake_tcp_server")
    pytester.makepyfile(ORIGINAL)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*FAKE_TCP_SERVER_BIN '/nonexistent/fake_tcp_server'*"])


def test_the_option_names_the_program(pytester, monkeypatch):
    program = find_binary()
    monkeypatch.setenv("FAKE_TCP_SERVER_BIN", "/nonexistent/fake_tcp_server")
    pytester.makepyfile(ORIGINAL)
    result = run(pytester, f"--fake-tcp-server-bin={program}")
    result.assert_outcomes(passed=1)


def test_a_fake_that_cannot_start_says_why(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.fake_tcp_server(framing="bogus")
        def test_bad(fake_tcp_server):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fake_tcp_server did not start: exited before it was ready*"])
    result.stdout.fnmatch_lines(["*bogus*"])


def test_a_fake_that_dies_under_a_test_is_a_clear_error_and_the_next_gets_a_new_one(pytester):
    pytester.makepyfile(
        """
        import os, signal

        def test_killed(fake_tcp_server):
            os.kill(fake_tcp_server.pid, signal.SIGKILL)
            fake_tcp_server.wait_exit(30)
            fake_tcp_server.status()

        def test_after(fake_tcp_server):
            assert fake_tcp_server.status().listener == "accepting"
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ControlError*UNAVAILABLE*"])
    result.stdout.fnmatch_lines(
        ["*no transcript from the control API: the fake exited with status -9*"]
    )


def test_xdist_workers_each_get_their_own_fake(pytester, tmp_path):
    record = tmp_path / "seen"
    record.mkdir()
    pytester.makepyfile(
        f"""
        import json, os, socket
        import pytest

        @pytest.mark.parametrize("i", range(8))
        def test_one(fake_tcp_server, i):
            with socket.create_connection(fake_tcp_server.address, timeout=30) as c:
                c.sendall(b"from %d" % i)
                assert c.recv(8) == b"Received"
            fake_tcp_server.wait_for_messages(1, timeout=30)
            assert fake_tcp_server.messages() == [b"from %d" % i]
            worker = os.environ["PYTEST_XDIST_WORKER"]
            with open(os.path.join({str(record)!r}, str(i)), "w") as f:
                json.dump([worker, fake_tcp_server.pid, fake_tcp_server.port], f)
        """
    )
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=8)
    seen = [json.loads(p.read_text()) for p in record.iterdir()]
    fakes = {}
    for worker, pid, port in seen:
        fakes.setdefault(worker, set()).add((pid, port))
    assert len(fakes) == 2, seen
    assert all(len(f) == 1 for f in fakes.values()), seen  # one fake per worker
    [a], [b] = fakes.values()
    assert a != b
