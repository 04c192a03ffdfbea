"""The standalone fake from Python: start, wait for SERVING, talk over a socket, stop."""

import os
import signal
import socket
import subprocess
import tempfile
import unittest


class CrossLanguageTest(unittest.TestCase):
    def setUp(self):
        self.bin = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"], "tools")
        self.tmp = tempfile.mkdtemp(dir=os.environ["TEST_TMPDIR"])
        self.server = subprocess.Popen(
            [
                os.path.join(self.bin, "fake_tcp_server"),
                "--port=0",
                "--framing=line",
                "--address_file=" + os.path.join(self.tmp, "addr"),
                "--health_address_file=" + os.path.join(self.tmp, "health"),
                "--transcript=" + os.path.join(self.tmp, "transcript.txt"),
                "--quiet",
            ]
        )
        # The child is killed even if the test fails.
        self.addCleanup(self._kill)
        subprocess.run(
            [
                os.path.join(self.bin, "health_probe"),
                "-addr_file=" + os.path.join(self.tmp, "health"),
                "-wait=30s",
            ],
            check=True,
            timeout=60,
        )
        with open(os.path.join(self.tmp, "addr")) as f:
            host, port = f.read().strip().rsplit(":", 1)
        self.address = (host, int(port))

    def _kill(self):
        if self.server.poll() is None:
            self.server.kill()
            self.server.wait()

    def test_hello_world(self):
        with socket.create_connection(self.address, timeout=30) as s:
            s.sendall(b"Hello, world\n")
            reply = b""
            while len(reply) < 8:
                chunk = s.recv(64)
                self.assertTrue(chunk, "connection closed early")
                reply += chunk
        self.assertEqual(reply, b"Received")
        self.server.send_signal(signal.SIGTERM)
        self.assertEqual(self.server.wait(timeout=30), 0)
        with open(os.path.join(self.tmp, "transcript.txt")) as f:
            transcript = f.read()
        self.assertIn('received 12 bytes "Hello, world"', transcript)


if __name__ == "__main__":
    unittest.main()
