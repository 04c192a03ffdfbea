"""Scripted replies, pushed messages, faults, and pause/resume with health following."""

import socket
import time

import pytest

from fake_tcp_server import health
from fake_tcp_server import script as s


def connect(fake):
    return socket.create_connection(fake.address, timeout=30)


def recv_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


# A tiny line protocol, scripted for one test: SET k v -> OK, GET k -> VALUE k.
@pytest.mark.fake_tcp_server(framing="line")
def test_scripted_replies(fake_tcp_server):
    fake_tcp_server.set_script(
        s.script(
            s.rule(s.regex(r"SET (\w+) (\w+)"), b"OK\n", name="set"),
            s.rule(s.regex(r"GET (\w+)"), s.rewrite("VALUE \\1\n"), name="get"),
            fallback=b"ERR\n",
        )
    )
    with connect(fake_tcp_server) as c:
        c.sendall(b"SET k v\n")
        assert recv_line(c) == b"OK\n"
        c.sendall(b"GET k\n")
        assert recv_line(c) == b"VALUE k\n"
        c.sendall(b"BOGUS\n")
        assert recv_line(c) == b"ERR\n"


def test_the_server_speaks_first(fake_tcp_server):
    with connect(fake_tcp_server) as c:
        fake_tcp_server.wait_for_open_connections(1)
        [conn] = fake_tcp_server.status().connections
        fake_tcp_server.send(conn.id, b"NOTIFY ready\n")
        assert recv_line(c) == b"NOTIFY ready\n"


def test_the_server_resets_the_connection(fake_tcp_server):
    fake_tcp_server.set_reply(b"partial answer", fault=s.fault(action="reset"))
    with connect(fake_tcp_server) as c:
        c.sendall(b"request")
        with pytest.raises(ConnectionResetError):
            while c.recv(1024):
                pass


@pytest.mark.fake_tcp_server(reply_latency=0.2)
def test_a_slow_server(fake_tcp_server):
    with connect(fake_tcp_server) as c:
        started = time.monotonic()
        c.sendall(b"request")
        assert c.recv(8) == b"Received"
        assert time.monotonic() - started >= 0.2  # at least the latency, never less


def test_pause_and_resume_with_health_following(fake_tcp_server):
    fake_tcp_server.pause()
    assert health.check(fake_tcp_server.health_address) == "NOT_SERVING"
    fake_tcp_server.resume()
    assert health.check(fake_tcp_server.health_address) == "SERVING"
    with connect(fake_tcp_server) as c:
        c.sendall(b"after resume")
        assert c.recv(8) == b"Received"
