"""The original test in its own form: the code under test connects, sends, reads "Received".

The fixture hands each test a running fake (one per session, reset before each test), so
there is no thread to start, no port to pick and no sleep "until it's up".
"""

import socket


def test_hello_server(fake_tcp_server):
    with socket.create_connection(fake_tcp_server.address, timeout=30) as s:
        s.sendall(b"Hello, Server")
        assert s.recv(1024) == b"Received"


def test_what_the_code_under_test_sent(fake_tcp_server):
    with socket.create_connection(fake_tcp_server.address, timeout=30) as s:
        s.sendall(b"Hello, Server")
        s.recv(1024)
    # Blocks on the fake until it logged the message (no polling), 5 s at most.
    fake_tcp_server.wait_for_messages(1, timeout=5)
    assert fake_tcp_server.messages() == [b"Hello, Server"]
    assert fake_tcp_server.sent() == [b"Received"]
