"""The check for Part 1's exercise: run the student's server for real and drive it.

`check(path)` starts the file at `path` as a server on a free port, holds several long polls,
publishes once, and checks that every waiting request got the message, that a request arriving
after the publish waits for the next one, and that the server survives a client that leaves.
It returns the problems it found (none means pass); it never raises, and always stops the server.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
ADDRESS = re.compile(rb"http://[\d.]+:(\d+)/")
START_TIMEOUT = 20.0  # seconds for the server to print its address
TIMEOUT = 5.0  # seconds for anything else the server should do
POLL = b"GET /poll HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


class Failed(Exception):
    """A problem that makes the rest of the check pointless."""


class Student:
    """The student's server, running as a subprocess."""

    def __init__(self, path: Path) -> None:
        self.errors = tempfile.TemporaryFile()
        self.popen = subprocess.Popen(
            [sys.executable, "-u", str(path), "--port", "0"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self.errors)
        self.port = 0

    def read_port(self) -> int:
        assert self.popen.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        seen = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.popen.stdout], [], [], 0.2)
            if ready:
                line = self.popen.stdout.readline()
                seen += line
                if m := ADDRESS.search(line):
                    self.port = int(m.group(1))
                    return self.port
                if not line:  # the output ended: the server has exited
                    self.popen.wait(timeout=TIMEOUT)
                    raise Failed(f"your server exited before it was ready (exit code "
                                 f"{self.popen.returncode}).{self.error_tail()}")
        raise Failed(f"your server did not print its address (http://127.0.0.1:PORT/) within "
                     f"{START_TIMEOUT:.0f} s; it printed {seen[-300:]!r}.{self.error_tail()}")

    def error_tail(self) -> str:
        self.errors.seek(0)
        lines = self.errors.read().decode(errors="replace").strip().splitlines()
        return " Its last error output:\n      " + "\n      ".join(lines[-8:]) if lines else ""

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, str]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
        try:
            conn.request(method, path, body=body or None)
            response = conn.getresponse()
            return response.status, response.read().decode(errors="replace").strip()
        except (OSError, http.client.HTTPException) as exc:
            raise Failed(f"{method} {path} got no answer ({type(exc).__name__}: {exc})."
                         f"{self.error_tail()}") from None
        finally:
            conn.close()

    def publish(self, message: bytes) -> str:
        status, text = self.request("POST", "/publish", message)
        if status != 200:
            raise Failed(f"POST /publish answered HTTP {status} ({text[:200]!r}): did "
                         "Board.publish raise an exception? Run your server by hand to see it.")
        return text

    def wait_until_waiting(self, expected: int, hint: str) -> None:
        """Wait (bounded) until GET /stats counts `expected` waiting requests."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            status, text = self.request("GET", "/stats")
            try:
                waiting = json.loads(text)["waiting"]
            except (ValueError, KeyError, TypeError):
                raise Failed(f"GET /stats answered {status} {text[:200]!r}, not the JSON "
                             "the server should give: keep the LongPoll resource as it was."
                             ) from None
            if waiting == expected:
                return
            if time.monotonic() > deadline:
                raise Failed(f"GET /stats counts {waiting} waiting requests, expected "
                             f"{expected}: {hint}")
            time.sleep(0.05)  # the server is another process: ask it again shortly

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self.errors.close()


def open_poll(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
    sock.sendall(POLL)
    return sock


def answered_yet(sock: socket.socket) -> bool:
    ready, _, _ = select.select([sock], [], [], 0)
    return bool(ready)


def read_answer(sock: socket.socket, deadline: float | None = None) -> tuple[int, bytes] | None:
    """The status and body of the answer on `sock`, or None if none came by the deadline."""
    deadline = deadline or time.monotonic() + TIMEOUT
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1").split("\r\n")
            fields = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
            length = fields.get("content-length")
            if length is not None and len(data) - end - 4 >= int(length):
                status = int(head[0].split(" ")[1])
                return status, data[end + 4:end + 4 + int(length)]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        except OSError:
            chunk = b""
        if not chunk:
            return None if not data else (0, data)
        data += chunk


def check_release(student: Student) -> list[str]:
    """Three waiting requests, one publish: all three get the message."""
    polls = [open_poll(student.port) for _ in range(3)]
    try:
        student.wait_until_waiting(3, "three GET /poll requests should be waiting.")
        if any(answered_yet(sock) for sock in polls):
            raise Failed("a GET /poll was answered before anything was published.")
        said = student.publish(b"first message")
        deadline = time.monotonic() + TIMEOUT  # for all three answers together
        answers = [read_answer(sock, deadline) for sock in polls]
    finally:
        for sock in polls:
            sock.close()
    problems = []
    missing = sum(answer is None for answer in answers)
    if missing:
        problems.append(f"{missing} of the 3 waiting requests got no answer within "
                        f"{TIMEOUT:.0f} s of the publish: Board.publish must answer every "
                        "request in self.waiting (reply() does it for one request).")
    for answer in answers:
        if answer is not None and answer != (200, b"first message"):
            problems.append(f"a waiting request was answered {answer!r}, expected "
                            "(200, b'first message'): answer it with reply(request, 200, "
                            "message).")
            break
    if said != "released 3":
        problems.append(f"POST /publish replied {said!r}, expected 'released 3': "
                        "Board.publish should return how many requests it answered.")
    return problems


def check_next_message(student: Student) -> list[str]:
    """A request that arrives after a publish waits for the next one, and gets only that."""
    sock = open_poll(student.port)
    try:
        student.wait_until_waiting(
            1, "after a publish, no request should be left waiting (empty self.waiting), "
               "and a new GET /poll should wait.")
        if answered_yet(sock):
            return ["a GET /poll that arrived after the publish was answered at once: it "
                    "should wait for the next message."]
        said = student.publish(b"second message")
        answer = read_answer(sock)
    finally:
        sock.close()
    if answer != (200, b"second message"):
        return [f"a request waiting for the second publish got {answer!r}, expected "
                "(200, b'second message')."]
    if said != "released 1":
        return [f"the second POST /publish replied {said!r}, expected 'released 1'."]
    return []


def check_survives_a_client_leaving(student: Student) -> list[str]:
    """A client that hangs up while waiting must not break the next publish."""
    sock = open_poll(student.port)
    student.wait_until_waiting(1, "a GET /poll should be waiting.")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # a reset, as when a browser tab closes
    student.wait_until_waiting(0, "a request whose client hung up should stop waiting.")
    later = open_poll(student.port)
    try:
        student.wait_until_waiting(1, "a GET /poll should be waiting.")
        student.publish(b"third message")
        answer = read_answer(later)
    finally:
        later.close()
    if answer != (200, b"third message"):
        return [f"after a client hung up, the next waiting request got {answer!r}, "
                "expected (200, b'third message')."]
    return []


def check(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        return [f"there is no file {path}"]
    student = None
    try:
        student = Student(path)
        student.read_port()
        for step in (check_release, check_next_message, check_survives_a_client_leaving):
            problems = step(student)
            if problems:
                return problems
        if student.popen.poll() is not None:
            return [f"your server exited during the check (exit code "
                    f"{student.popen.returncode}).{student.error_tail()}"]
        return []
    except Failed as exc:
        return [str(exc)]
    except OSError as exc:
        tail = student.error_tail() if student else ""
        return [f"could not talk to your server: {type(exc).__name__}: {exc}.{tail}"]
    finally:
        if student is not None:
            student.stop()
