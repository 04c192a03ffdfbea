"""TLS, and recording a real server's answers to replay them without it."""

import socket
import socketserver
import ssl
import threading

import pytest

from fake_tcp_server import FakeTcpServer


@pytest.mark.fake_tcp_server(tls=True)
def test_tls(fake_tcp_server):
    # The fake made a throwaway CA and a certificate for localhost.
    context = ssl.create_default_context(cafile=fake_tcp_server.tls_ca_file)
    with socket.create_connection(fake_tcp_server.address, timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as c:
            c.sendall(b"Hello, Server")
            assert c.recv(8) == b"Received"


class Upper(socketserver.StreamRequestHandler):
    """The real server: answers each line in upper case."""

    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.upper())


def ask(address, lines):
    with socket.create_connection(address, timeout=30) as c:
        f = c.makefile("rwb")
        answers = []
        for line in lines:
            f.write(line)
            f.flush()
            answers.append(f.readline())
        return answers


def talk(address):
    return ask(address, [b"hello\n", b"world\n"])


def test_record_a_real_server_then_replay_it(tmp_path):
    recording = tmp_path / "upper.json"
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Upper) as real:
        threading.Thread(target=real.serve_forever, daemon=True).start()
        upstream = "%s:%d" % real.server_address
        # In between, the fake forwards to the real server and records the session.
        with FakeTcpServer(framing="line", proxy_to=upstream, record=str(recording)) as fake:
            assert talk(fake.address) == [b"HELLO\n", b"WORLD\n"]
        real.shutdown()
    # The recording is a script: the same answers, with no real server anywhere.
    with FakeTcpServer(script=str(recording)) as replay:
        assert talk(replay.address) == [b"HELLO\n", b"WORLD\n"]


class Session(socketserver.StreamRequestHandler):
    """A real server that takes a password and echoes request ids: "GET 1234" ->
    "VALUE 1234 ok"."""

    def handle(self):
        for line in self.rfile:
            if line.startswith(b"AUTH "):
                self.wfile.write(b"+OK\n")
            else:
                self.wfile.write(b"VALUE " + line.split()[-1] + b" ok\n")


def test_shape_recording_replays_new_ids_and_hides_the_password(tmp_path):
    recording = tmp_path / "session.json"
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session) as real:
        threading.Thread(target=real.serve_forever, daemon=True).start()
        upstream = "%s:%d" % real.server_address
        with FakeTcpServer(
            framing="line",
            proxy_to=upstream,
            record=str(recording),
            record_match="shape",
            redact=[r"AUTH (\S+)"],
        ) as fake:
            assert ask(fake.address, [b"AUTH hunter2\n", b"GET 20411\n"]) == [
                b"+OK\n",
                b"VALUE 20411 ok\n",
            ]
            assert "hunter2" not in fake.transcript()
            assert fake.record() == {"path": str(recording), "rules": 2}
        real.shutdown()
    assert "hunter2" not in recording.read_text()
    # Another run, other ids: the replay echoes the new one.
    with FakeTcpServer(script=str(recording)) as replay:
        assert ask(replay.address, [b"AUTH other\n", b"GET 30522\n"]) == [
            b"+OK\n",
            b"VALUE 30522 ok\n",
        ]
