"""Part 1's two long-poll servers: the same behaviour, one thread per connection or one in all."""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PART = Path(__file__).resolve().parents[2] / "parts" / "part01"
SERVERS = ["threaded_server.py", "twisted_server.py", "exercise/solution.py"]
POLL = b"GET /poll HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
TIMEOUT = 10.0


class Server:
    def __init__(self, script: str) -> None:
        self.popen = subprocess.Popen([sys.executable, "-u", str(PART / script), "--port", "0"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.popen.stdout is not None
        ready, _, _ = select.select([self.popen.stdout], [], [], 30)
        line = self.popen.stdout.readline() if ready else b""
        m = re.search(rb"listening on http://127\.0\.0\.1:(\d+)/", line)
        assert m, f"the server did not say where it listens: {line!r}"
        self.port = int(m.group(1))

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def publish(self, message: bytes) -> bytes:
        status, body = self.request("POST", "/publish", message)
        assert status == 200, body
        return body

    def waiting(self) -> int:
        status, body = self.request("GET", "/stats")
        assert status == 200
        return json.loads(body)["waiting"]

    def wait_until_waiting(self, expected: int) -> None:
        deadline = time.monotonic() + TIMEOUT
        while (now := self.waiting()) != expected:
            assert time.monotonic() < deadline, f"{now} waiting, expected {expected}"
            time.sleep(0.02)  # the server is another process: ask it again shortly

    def poll(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        sock.sendall(POLL)
        return sock


def answer(sock: socket.socket) -> tuple[int, bytes]:
    """Read one whole response (the servers close after answering a poll)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def nothing_yet(sock: socket.socket) -> bool:
    return not select.select([sock], [], [], 0)[0]


@pytest.fixture(params=SERVERS, ids=["threaded", "twisted", "exercise-solution"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    running = Server(request.param)
    try:
        yield running
    finally:
        running.popen.kill()
        running.popen.wait()


def test_a_poll_waits_until_a_publish_releases_it(server: Server) -> None:
    sock = server.poll()
    server.wait_until_waiting(1)
    assert nothing_yet(sock)
    assert server.publish(b"hello") == b"released 1\n"
    assert answer(sock) == (200, b"hello")
    assert server.waiting() == 0


def test_one_publish_releases_every_waiting_poll(server: Server) -> None:
    socks = [server.poll() for _ in range(5)]
    server.wait_until_waiting(5)
    assert server.publish(b"to all") == b"released 5\n"
    assert [answer(sock) for sock in socks] == [(200, b"to all")] * 5


def test_a_poll_after_a_publish_waits_for_the_next_message(server: Server) -> None:
    first = server.poll()
    server.wait_until_waiting(1)
    server.publish(b"one")
    assert answer(first) == (200, b"one")
    assert server.publish(b"two") == b"released 0\n"  # nobody was waiting: "two" is lost
    late = server.poll()
    server.wait_until_waiting(1)
    assert nothing_yet(late)
    server.publish(b"three")
    assert answer(late) == (200, b"three")


def test_bad_requests_get_a_clear_4xx_and_the_server_carries_on(server: Server) -> None:
    status, body = server.request("GET", "/nowhere")
    assert status == 404 and b"/poll" in body
    status, body = server.request("POST", "/publish", b"x" * (64 * 1024 + 1))
    assert status == 413 and b"at most" in body
    status, _ = server.request("POST", "/publish", b"hi", headers={"Content-Length": "many"})
    assert status == 400
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"\x00\xffnot http at all\r\n\r\n")
        assert b"400" in sock.recv(4096)  # an error page, and no traceback
    assert server.waiting() == 0
    sock = server.poll()
    server.wait_until_waiting(1)
    server.publish(b"still here")
    assert answer(sock) == (200, b"still here")


def test_the_event_based_server_forgets_a_client_that_hangs_up() -> None:
    server = Server("twisted_server.py")
    try:
        sock = server.poll()
        server.wait_until_waiting(1)
        sock.close()
        server.wait_until_waiting(0)
        assert server.publish(b"anyone?") == b"released 0\n"
    finally:
        server.popen.kill()
        server.popen.wait()
