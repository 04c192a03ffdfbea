"""Every operation of the Python control client and launcher, against the real fake."""

import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading

import pytest

from fake_tcp_server import (
    BinaryNotFound,
    ControlClient,
    ControlError,
    FakeTcpServer,
    StartError,
    WaitTimeout,
    health,
)
from fake_tcp_server import script as s

TIMEOUT = 30


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


@pytest.fixture(scope="module")
def line_fake():
    with FakeTcpServer(framing="line", reply="OK\\n") as fake:
        yield fake


@pytest.fixture
def fake(line_fake):
    line_fake.reset()
    return line_fake


def connect(fake) -> socket.socket:
    sock = socket.create_connection(fake.address, timeout=TIMEOUT)
    return sock


def test_status_names_the_addresses(fake):
    status = fake.status()
    assert status.listener == "accepting"
    assert status.port == fake.port
    assert status.address == f"{fake.host}:{fake.port}"
    assert status.health_address == fake.health_address
    assert status.log["received"] == 0
    assert status.log["max_events"] > 0
    assert status.max_connections > 0 and not status.at_capacity


def test_messages_waits_and_replies(fake):
    with connect(fake) as c:
        c.sendall(b"one\ntwo\nthree\n")
        assert recv_exactly(c, 9) == b"OK\nOK\nOK\n"
        result = fake.wait_for_messages(3, timeout=TIMEOUT)
        assert result.satisfied
        assert fake.messages() == [b"one", b"two", b"three"]
        assert fake.sent() == [b"OK\n"] * 3
        [conn] = fake.status().connections
        assert conn.messages_received == 3 and conn.bytes_received == 14
        assert fake.messages(connection=conn.id) == [b"one", b"two", b"three"]
        kinds = [e.kind for e in fake.entries()]
        assert kinds[0] == "accepted" and kinds.count("received") == 3


def test_log_pages_follow_a_cursor_without_reading_twice(fake):
    with connect(fake) as c:
        c.sendall(b"a\nb\nc\nd\ne\n")
        fake.wait_for_messages(5, timeout=TIMEOUT)
    seen, after = [], 0
    while True:
        page = fake.log(after=after, limit=2, direction="received")
        assert len(page.entries) <= 2
        seen += [e.data for e in page.entries]
        after = page.next_after
        if not page.more:
            break
    assert seen == [b"a", b"b", b"c", b"d", b"e"]
    assert fake.log(after=after, direction="received").entries == []


def test_log_wait_blocks_on_the_server_until_an_entry_comes(fake):
    last = fake.status().log["last_sequence"]
    got = {}
    started = threading.Event()

    def follow():
        started.set()
        got["page"] = fake.log(after=last, direction="received", wait=TIMEOUT)

    follower = threading.Thread(target=follow)
    follower.start()
    started.wait(TIMEOUT)
    with connect(fake) as c:
        c.sendall(b"late\n")
        follower.join(TIMEOUT)
    assert not follower.is_alive()
    assert [e.data for e in got["page"].entries] == [b"late"]


def test_a_timed_out_wait_says_what_was_seen(fake):
    with connect(fake) as c:
        c.sendall(b"only one\n")
        recv_exactly(c, 3)
        with pytest.raises(WaitTimeout) as e:
            fake.wait_for_messages(3, timeout=0.2)
    result = e.value.result
    assert not result.satisfied
    assert result.waited_for == "3 messages"
    assert result.seen["received"] == 1
    assert b"only one" in [entry.data for entry in result.last_entries]
    assert "3 messages" in str(e.value) and "1 received" in str(e.value)
    assert isinstance(e.value, AssertionError)


def test_wait_for_a_matching_message(fake):
    with connect(fake) as c:
        c.sendall(b"GET a\nSET k v\n")
        entry = fake.wait_for_message(s.regex(r"SET (\w+) (\w+)"), timeout=TIMEOUT)
        assert entry.data == b"SET k v" and entry.kind == "received"
        entry = fake.wait_for_message(s.prefix(b"get", ignore_case=True), timeout=TIMEOUT)
        assert entry.data == b"GET a"


def test_wait_for_connections_open_and_closed(fake):
    a, b = connect(fake), connect(fake)
    try:
        fake.wait_for_connections(2, timeout=TIMEOUT)
        fake.wait_for_open_connections(2, timeout=TIMEOUT)
        first = fake.status().connections[0].id
        a.close()
        result = fake.wait_for_closed(first, timeout=TIMEOUT)
        assert result.event is not None and result.event.connection == first
    finally:
        a.close()
        b.close()


def test_send_and_broadcast_push_to_clients(fake):
    with connect(fake) as a, connect(fake) as b:
        fake.wait_for_open_connections(2, timeout=TIMEOUT)
        ids = [conn.id for conn in fake.status().connections]
        fake.send(ids[0], b"PUSH\x00\n")
        assert recv_exactly(a, 6) == b"PUSH\x00\n"
        fake.send(ids[1], "text\n")
        assert recv_exactly(b, 5) == b"text\n"
        assert fake.broadcast(b"ALL\n") == 2
        assert recv_exactly(a, 4) == b"ALL\n" and recv_exactly(b, 4) == b"ALL\n"


def test_send_with_a_fault_closes_after_the_bytes(fake):
    with connect(fake) as c:
        fake.wait_for_open_connections(1, timeout=TIMEOUT)
        [conn] = fake.status().connections
        fake.send(conn.id, b"bye\n", fault=s.fault(action="close"))
        assert recv_exactly(c, 4) == b"bye\n"
        assert c.recv(1) == b""
        fake.wait_for_closed(conn.id, timeout=TIMEOUT)


def test_close_and_reset_connections(fake):
    with connect(fake) as a, connect(fake) as b:
        fake.wait_for_open_connections(2, timeout=TIMEOUT)
        ids = [conn.id for conn in fake.status().connections]
        fake.close(ids[0])
        assert a.recv(1) == b""
        fake.close(ids[1], reset=True)
        with pytest.raises(ConnectionResetError):
            b.recv(1)
    with connect(fake) as c:
        fake.wait_for_open_connections(1, timeout=TIMEOUT)
        assert fake.close_all() == 1
        assert c.recv(1) == b""


def test_pause_and_resume_and_health_follows(fake):
    assert health.available(), "python3-grpcio is installed by tools/bazel"
    fake.pause()
    assert fake.status().listener == "paused"
    assert health.check(fake.health_address) == "NOT_SERVING"
    fake.resume()
    assert fake.status().listener == "accepting"
    assert health.check(fake.health_address) == "SERVING"
    with connect(fake) as c:
        c.sendall(b"after resume\n")
        assert recv_exactly(c, 3) == b"OK\n"


def test_stop_accepting_refuses_new_connections():
    with FakeTcpServer() as fake:
        fake.stop_accepting()
        assert fake.status().listener in ("refusing", "stopped")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(fake.address, timeout=TIMEOUT)


def test_set_script_and_add_rules(fake):
    fake.set_script(s.script(s.rule(s.equals(b"PING"), b"PONG\n", name="ping"), fallback=b"ERR\n"))
    fake.add_rules(s.rule(s.regex(r"GET (\w+)"), s.rewrite("VALUE \\1\n"), name="get"))
    with connect(fake) as c:
        c.sendall(b"PING\n")
        assert recv_exactly(c, 5) == b"PONG\n"
        c.sendall(b"GET k\n")
        assert recv_exactly(c, 8) == b"VALUE k\n"
        c.sendall(b"what\n")
        assert recv_exactly(c, 4) == b"ERR\n"
    fake.set_script([s.rule(s.any_message(), None, name="silent")])
    assert fake.status().unused_rules == ["silent"]


def test_set_reply(fake):
    fake.set_reply(b"NEW\n")
    with connect(fake) as c:
        c.sendall(b"x\n")
        assert recv_exactly(c, 4) == b"NEW\n"
        fake.set_reply(None)
        c.sendall(b"y\n")
        fake.wait_for_messages(2, timeout=TIMEOUT)
        assert fake.sent() == [b"NEW\n"]


def test_clear_keeps_connections_open(fake):
    with connect(fake) as c:
        c.sendall(b"before\n")
        fake.wait_for_messages(1, timeout=TIMEOUT)
        fake.clear()
        assert fake.messages() == []
        assert len(fake.status().connections) == 1
        c.sendall(b"after\n")
        fake.wait_for_messages(1, timeout=TIMEOUT)
        assert fake.messages() == [b"after"]


def test_reset_restores_the_fake_as_it_started(fake):
    with connect(fake) as c:
        fake.wait_for_open_connections(1, timeout=TIMEOUT)
        fake.set_reply(b"CHANGED\n")
        fake.pause()
        assert fake.reset() == 1
        assert c.recv(1) == b""
    status = fake.status()
    assert status.listener == "accepting"
    assert status.connections == [] and status.log["received"] == 0
    with connect(fake) as c:
        c.sendall(b"x\n")
        assert recv_exactly(c, 3) == b"OK\n"


def test_transcript_now(fake):
    with connect(fake) as c:
        c.sendall(b"in the transcript\n")
        fake.wait_for_messages(1, timeout=TIMEOUT)
    text = fake.transcript()
    assert 'received 17 bytes "in the transcript"' in text


def test_errors_carry_the_servers_code_and_message(fake):
    with connect(fake) as c:
        c.sendall(b"kept\n")
        fake.wait_for_messages(1, timeout=TIMEOUT)
        with pytest.raises(ControlError) as e:
            fake.send(99, b"x")
        assert e.value.code == "NOT_FOUND" and e.value.http_status == 404
        assert "connection 99" in e.value.message
        assert e.value.operation == "POST /v1/connections/99/send"
        with pytest.raises(ControlError) as e:
            fake.set_script(s.script(s.rule(s.regex("GET (k"), b"x")))
        assert e.value.code == "INVALID_ARGUMENT" and "regex" in e.value.message
        with pytest.raises(ControlError) as e:
            ControlClient(fake.url, "wrong token").status()
        assert e.value.code == "UNAUTHENTICATED" and e.value.http_status == 401
        assert fake.messages() == [b"kept"]


def test_builders_reject_bad_values():
    with pytest.raises(ValueError, match="action 'explode'"):
        s.fault(action="explode")
    with pytest.raises(ValueError, match="negative"):
        s.duration(-1)
    with pytest.raises(TypeError):
        s.response(42)
    with pytest.raises(ValueError, match="not http"):
        ControlClient("ftp://x", "t")


def test_shutdown_keeps_the_transcript():
    fake = FakeTcpServer().start()
    try:
        with connect(fake) as c:
            c.sendall(b"last words")
            assert recv_exactly(c, 8) == b"Received"
        fake.shutdown()
        assert fake.wait_exit(TIMEOUT) == 0
        with open(fake.transcript_path, encoding="utf-8") as f:
            assert 'received 10 bytes "last words"' in f.read()
        with pytest.raises(ControlError) as e:
            fake.status()
        assert e.value.code == "UNAVAILABLE"
    finally:
        fake.cleanup()


def test_a_launcher_killed_outright_takes_its_fake_with_it(tmp_path):
    # A test process SIGKILLed (Bazel's timeout, an OOM kill) leaves no fake behind:
    # the fake stops when the pipe to its stdin closes, writing its transcript.
    launcher = subprocess.Popen(
        [sys.executable, "-c",
         "import socket, sys\n"
         "from fake_tcp_server import FakeTcpServer\n"
         f"fake = FakeTcpServer(workdir={str(tmp_path)!r}).start()\n"
         "with socket.create_connection(fake.address, timeout=30) as c:\n"
         "    c.sendall(b'before the kill')\n"
         "    fake.wait_for_messages(1, timeout=30)\n"
         "print(fake.pid, flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=os.environ.copy(),
    )
    try:
        pid = int(launcher.stdout.readline())
        fake_pidfd = os.pidfd_open(pid)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(TIMEOUT)
        readable, _, _ = select.select([fake_pidfd], [], [], TIMEOUT)
        assert readable, f"the fake (pid {pid}) outlived its launcher"
        os.close(fake_pidfd)
        with open(tmp_path / "transcript.txt", encoding="utf-8") as f:
            assert 'received 15 bytes "before the kill"' in f.read()
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.stdin.close()
        launcher.stdout.close()


def test_a_client_of_a_running_fake_from_its_address_file(tmp_path):
    with FakeTcpServer(workdir=str(tmp_path)) as fake:
        client = ControlClient.from_address_file(str(tmp_path / "control.json"))
        assert client.status().port == fake.port


def test_a_fake_that_cannot_start_says_why_with_its_output():
    with pytest.raises(StartError) as e:
        FakeTcpServer(framing="bogus").start()
    text = str(e.value)
    assert "exited before it was ready" in text and "exit status 2" in text
    assert "--framing=bogus" in text  # the command
    assert "bogus" in text.split("output:", 1)[1]  # the fake's own error


def test_a_missing_program_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FAKE_TCP_SERVER_BIN", "/nonexistent/fake_tcp_server")
    with pytest.raises(BinaryNotFound, match="FAKE_TCP_SERVER_BIN '/nonexistent"):
        FakeTcpServer().start()
    monkeypatch.delenv("FAKE_TCP_SERVER_BIN")
    for var in ("RUNFILES_DIR", "TEST_SRCDIR", "RUNFILES_MANIFEST_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BinaryNotFound, match="--fake-tcp-server-bin"):
        FakeTcpServer().start()


def test_tls():
    with FakeTcpServer(tls=True) as fake:
        context = ssl.create_default_context(cafile=fake.tls_ca_file)
        with socket.create_connection(fake.address, timeout=TIMEOUT) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as c:
                c.sendall(b"secret")
                assert recv_exactly(c, 8) == b"Received"
        fake.wait_for_messages(1, timeout=TIMEOUT)
        assert fake.messages() == [b"secret"]


def test_readiness_is_said():
    with FakeTcpServer() as fake:
        assert fake.ready_by == "grpc.health.v1 Watch"
        assert health.check(fake.health_address) == "SERVING"
    assert not fake.running and fake.returncode == 0
    assert os.path.basename(fake.command[0]) == "fake_tcp_server"


def test_the_session_runs_in_a_network_of_its_own():
    # fake_tcp_py_test() ran this session through //testing:own_network_exec.
    described = os.environ.get("FAKE_TCP_SERVER_NETWORK", "")
    assert "network namespace" in described, described
