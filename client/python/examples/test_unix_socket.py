"""A fake on a Unix-domain socket, for code under test that is pointed at a socket path
(Redis, PostgreSQL, Docker, a daemon's control socket) instead of a port.

`unix_socket=True` gives the fake a socket file of its own (mode 0600, removed when the
fake stops); `unix_socket="/run/x.sock"` or `"@name"` (the abstract namespace) picks it.
The log names each client by its process and user.
"""

import os
import socket
import stat

import pytest


@pytest.mark.fake_tcp_server(unix_socket=True, framing="crlf", reply="+PONG\r\n")
def test_a_client_of_a_socket_path(fake_tcp_server):
    path = fake_tcp_server.unix_socket
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(b"PING\r\n")
        assert s.recv(1024) == b"+PONG\r\n"
    fake_tcp_server.wait_for_messages(1, timeout=5)
    assert fake_tcp_server.messages() == [b"PING"]
    [entry] = fake_tcp_server.log(kinds=["accepted"]).entries
    assert entry.peer == f"unix pid={os.getpid()} uid={os.getuid()}"


@pytest.mark.fake_tcp_server(unix_socket=f"@fake_tcp_example_{os.getpid()}")
def test_the_abstract_namespace_and_connect(fake_tcp_server):
    # connect() reaches the fake on TCP and on either kind of Unix socket.
    with fake_tcp_server.connect() as s:
        s.sendall(b"hello")
        assert s.recv(1024) == b"Received"
    fake_tcp_server.wait_for_messages(1, timeout=5)
