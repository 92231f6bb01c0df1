"""Clients for the HTTP transport tests: a comet client speaking the wire protocol with
plain http.client (as a page would with XHR or EventSource), and a raw STOMP TCP client.

The comet client follows the protocol's client rules exactly: it keeps H (the downstream
bytes it holds), drops the part of a record it already has, acks H with each request,
and uploads with the offset of its first unacknowledged byte.
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import running

SERVING = re.compile(rb"Serving the site at http://(\d+\.\d+\.\d+\.\d+):(\d+)/")
STOMP = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")
TIMEOUT = 20


def make_site(path: Path) -> Path:
    (path / "docs").mkdir(parents=True, exist_ok=True)
    (path / "docs" / "index.html").write_text("<h1>site</h1>")
    return path


@contextmanager
def serve(site: Path, *options: str):
    """`serve` in a subprocess; yields (http_port, stomp_port, process)."""
    args = ["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site), *options]
    with running(args) as process:
        http_port = int(process.wait_for(SERVING).group(2))
        stomp_port = int(process.wait_for(STOMP).group(2))
        yield http_port, stomp_port, process


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


class Records:
    """Incremental parser of poll and stream bodies: records out of bytes."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[tuple[str, object]]:
        self.buffer += data
        out: list[tuple[str, object]] = []
        while self.buffer:
            if self.buffer.startswith(b"\n"):
                self.buffer = self.buffer[1:]
                out.append(("keepalive", None))
                continue
            line_end = self.buffer.find(b"\n")
            if line_end < 0:
                break
            line = self.buffer[:line_end]
            kind, _, rest = line.partition(b" ")
            if kind == b"d":
                offset, length = (int(x) for x in rest.split(b" "))
                end = line_end + 1 + length + 1
                if len(self.buffer) < end:
                    break
                assert self.buffer[end - 1:end] == b"\n", self.buffer[:end]
                out.append(("d", (offset, self.buffer[line_end + 1:end - 1])))
                self.buffer = self.buffer[end:]
            elif kind in (b"c", b"e"):
                out.append((kind.decode(), rest.decode()))
                self.buffer = self.buffer[line_end + 1:]
            else:
                raise AssertionError(f"not a record: {self.buffer[:80]!r}")
        return out


class SSEParser:
    """The browser's EventSource parsing, enough for our streams: events out of bytes."""

    def __init__(self) -> None:
        self.buffer = b""
        self.last_id: str | None = None
        self._data: list[bytes] = []
        self._event = b""

    def feed(self, data: bytes) -> list[tuple[str, bytes, str | None]]:
        self.buffer += data
        out = []
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if not line:
                # Every stream opens with a "ready" event (a sign of life for the page):
                # the tests look at the data events.
                if self._data and self._event != b"ready":
                    out.append(((self._event or b"message").decode(),
                                b"\n".join(self._data), self.last_id))
                self._data, self._event = [], b""
                continue
            if line.startswith(b":"):
                continue
            field, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if field == b"data":
                self._data.append(value)
            elif field == b"event":
                self._event = value
            elif field == b"id":
                self.last_id = value.decode()
        return out


def decode_event(kind: str, data: bytes) -> bytes:
    """An SSE event's bytes: text as UTF-8, type ``b`` as base64."""
    return base64.b64decode(data) if kind == "b" else data


class CometClient:
    """One comet session, driven the way the protocol page says."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or {}
        status, _, body = request(port, "POST", "/comet/", headers=self.headers)
        assert status == 201, (status, body)
        self.id = body.decode()
        self.held = 0           # H: downstream bytes held
        self.received = bytearray()
        self.sent = 0           # upstream bytes acknowledged as applied
        self.closed: str | None = None

    # downstream -------------------------------------------------------------------------

    def take(self, offset: int, data: bytes) -> None:
        assert offset <= self.held, f"gap: got offset {offset} holding {self.held}"
        new = data[self.held - offset:]
        self.received += new
        self.held += len(new)

    def apply(self, records: list[tuple[str, object]]) -> list[str]:
        ends = []
        for kind, value in records:
            if kind == "d":
                self.take(*value)  # type: ignore[misc]
            elif kind == "c":
                self.closed = value  # type: ignore[assignment]
                ends.append(kind)
            elif kind == "e":
                ends.append(kind)
        return ends

    def poll(self, hold: int | None = None) -> bytes:
        path = f"/comet/{self.id}/poll?ack={self.held}"
        if hold is not None:
            path += f"&hold={hold}"
        status, _, body = request(self.port, "GET", path, headers=self.headers)
        assert status == 200, (status, body)
        before = len(self.received)
        self.apply(Records().feed(body))
        return bytes(self.received[before:])

    def open_stream(self, kind: str = "stream", recycle: int | None = None,
                    last_event_id: str | None = None) -> http.client.HTTPResponse:
        path = f"/comet/{self.id}/{kind}?ack={self.held}"
        if recycle is not None:
            path += f"&recycle={recycle}"
        headers = dict(self.headers)
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        assert response.status == 200, (response.status, response.read())
        response.conn = conn  # type: ignore[attr-defined]
        return response

    def frames_until(self, predicate, transport: str = "poll", limit: int = 200) -> list[bytes]:
        """Read downstream (by `transport`) until predicate(frames) holds; returns frames."""
        for _ in range(limit):
            frames = stomp_frames(bytes(self.received))
            if predicate(frames):
                return frames
            if self.closed is not None:
                raise AssertionError(f"session closed: {self.closed}; got {frames}")
            if transport == "poll":
                self.poll()
            else:
                self.read_stream_once(transport)
        raise AssertionError(f"gave up; got {stomp_frames(bytes(self.received))}")

    def read_stream_once(self, kind: str) -> None:
        """Open a stream and read one batch from it, then drop it."""
        response = self.open_stream(kind)
        sse, records = SSEParser(), Records()
        try:
            before = self.held
            while self.held == before and self.closed is None:
                data = response.read1(65536)
                if not data:
                    break
                if kind == "sse":
                    for event, payload, _ in sse.feed(data):
                        if event in ("message", "b"):
                            self.take(self.held, decode_event(event, payload))
                        elif event == "close":
                            self.closed = payload.decode()
                else:
                    self.apply(records.feed(data))
        finally:
            response.conn.close()  # type: ignore[attr-defined]

    # upstream ---------------------------------------------------------------------------

    def send(self, data: bytes, offset: int | None = None) -> tuple[int, bytes]:
        offset = self.sent if offset is None else offset
        status, _, body = request(self.port, "POST", f"/comet/{self.id}/send?offset={offset}",
                                  body=data, headers=self.headers)
        if status == 200:
            self.sent = max(self.sent, int(body))
        return status, body

    def upload(self, data: bytes) -> None:
        status, body = self.send(data)
        assert status == 200, (status, body)

    def close(self) -> int:
        return request(self.port, "DELETE", f"/comet/{self.id}", headers=self.headers)[0]


def stomp_frames(data: bytes) -> list[bytes]:
    """Complete STOMP frames in `data` (heart-beat EOLs dropped)."""
    parts = data.split(b"\0")
    return [p.lstrip(b"\r\n") for p in parts[:-1]]


def frame(command: str, body: str = "", **headers: str) -> bytes:
    lines = [command] + [f"{k.replace('_', '-')}:{v}" for k, v in headers.items()]
    return ("\n".join(lines) + "\n\n" + body).encode() + b"\0"


CONNECT = frame("CONNECT", accept_version="1.2", host="localhost")


class StompTCP:
    """A raw STOMP client on the broker's TCP port."""

    def __init__(self, port: int, **connect: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""
        self.sock.sendall(frame("CONNECT", accept_version="1.2", host="localhost", **connect))
        assert self.next_frame().startswith(b"CONNECTED")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next_frame(self) -> bytes:
        while b"\0" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed; got {self.buffer!r}"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\0", 1)
        return head.lstrip(b"\r\n")

    def subscribe(self, destination: str, sub_id: str = "0") -> None:
        self.send(frame("SUBSCRIBE", id=sub_id, destination=destination, receipt="sub"))
        assert self.next_frame().startswith(b"RECEIPT")

    def close(self) -> None:
        self.sock.close()


def body_of(stomp_frame: bytes) -> bytes:
    return stomp_frame.split(b"\n\n", 1)[1]
