"""What the interop tests share: broker descriptions, a stomp.py recorder, a raw client.

The raw client's frame reader is deliberately simple and separate from `comet_core`'s codec,
so that these tests do not use our code to judge our code.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import stomp

TIMEOUT = 10.0  # seconds: the bound on every wait in this suite; nothing here should need it
VERSIONS = ["1.0", "1.1", "1.2"]
CONNECTIONS = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}

# A test that checks a choice STOMP leaves to the server runs on our broker only.
comet_only = pytest.mark.parametrize("broker", ["comet"], indirect=True)


@dataclass(frozen=True)
class Broker:
    """Where a broker listens, and what the tests may expect of it."""

    name: str
    host: str
    port: int
    login: str = "guest"
    passcode: str = "guest"
    vhost: str = "/"
    # STOMP says the server closes the connection just after an ERROR frame. RabbitMQ 3.x
    # keeps a logged-in connection open after an ERROR about a frame it could parse, and
    # closes one that never logged in only at its 10 s handshake timeout; so the suite
    # checks the close on brokers that do it promptly.
    closes_after_error: bool = True

    @property
    def is_comet(self) -> bool:
        return self.name == "comet"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)


class Recorder(stomp.ConnectionListener):
    """Everything a stomp.py connection receives, in queues and conditions to wait on."""

    def __init__(self) -> None:
        self.messages: queue.Queue[stomp.utils.Frame] = queue.Queue()
        self.errors: queue.Queue[stomp.utils.Frame] = queue.Queue()
        self.receipts: set[str] = set()
        self.heartbeats = 0
        self.changed = threading.Condition()
        self.connected_frame: stomp.utils.Frame | None = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()

    def on_connected(self, frame: stomp.utils.Frame) -> None:
        self.connected_frame = frame
        self.connected.set()

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.messages.put(frame)

    def on_error(self, frame: stomp.utils.Frame) -> None:
        self.errors.put(frame)

    def on_receipt(self, frame: stomp.utils.Frame) -> None:
        with self.changed:
            self.receipts.add(frame.headers["receipt-id"])
            self.changed.notify_all()

    def on_heartbeat(self) -> None:
        with self.changed:
            self.heartbeats += 1
            self.changed.notify_all()

    def on_disconnected(self) -> None:
        self.disconnected.set()

    def describe_errors(self) -> str:
        errors = [f"{f.headers} {f.body!r}" for f in list(self.errors.queue)]
        return f"ERROR frames: {errors}" if errors else "no ERROR frames"

    def next_message(self, timeout: float = TIMEOUT) -> stomp.utils.Frame:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no MESSAGE within {timeout} s ({self.describe_errors()})"
                                 ) from None

    def bodies(self, n: int, timeout: float = TIMEOUT) -> list[str | bytes]:
        return [self.next_message(timeout).body for _ in range(n)]

    def wait_receipt(self, receipt: str, timeout: float = TIMEOUT) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: receipt in self.receipts, timeout):
                raise AssertionError(f"no RECEIPT {receipt!r} within {timeout} s "
                                     f"({self.describe_errors()})")

    def wait_heartbeats(self, n: int, timeout: float) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.heartbeats >= n, timeout):
                raise AssertionError(f"{self.heartbeats} heart-beats within {timeout} s, "
                                     f"wanted {n}")


@dataclass
class Client:
    """A logged-in stomp.py connection, what it received, and per-version ACK/NACK."""

    conn: stomp.Connection
    version: str
    rec: Recorder
    _serial: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 30)))

    def receipt(self) -> str:
        return f"r-{next(self._serial)}"

    def subscribe(self, destination: str, sub_id: str = "s1", ack: str = "auto") -> None:
        """Subscribe and wait until the broker confirms it, so later sends reach us."""
        r = self.receipt()
        self.conn.subscribe(destination, id=sub_id, ack=ack, receipt=r)
        self.rec.wait_receipt(r)

    def unsubscribe(self, sub_id: str = "s1") -> None:
        r = self.receipt()
        self.conn.unsubscribe(id=sub_id, receipt=r)
        self.rec.wait_receipt(r)

    def send(self, destination: str, body: str | bytes, **headers: str) -> None:
        """SEND and wait for its receipt, so the broker has it before the test goes on."""
        r = self.receipt()
        self.conn.send(destination, body, receipt=r, **headers)
        self.rec.wait_receipt(r)

    def ack(self, frame: stomp.utils.Frame, **kw: str) -> None:
        """ACK as each version names a message: message-id, plus subscription, then ack."""
        h = frame.headers
        if self.version == "1.0":
            self.conn.ack(h["message-id"], **kw)
        elif self.version == "1.1":
            self.conn.ack(h["message-id"], h["subscription"], **kw)
        else:
            self.conn.ack(h["ack"], **kw)

    def nack(self, frame: stomp.utils.Frame, **kw: str) -> None:
        h = frame.headers
        if self.version == "1.1":
            self.conn.nack(h["message-id"], h["subscription"], **kw)
        else:
            self.conn.nack(h["ack"], **kw)

    def close(self) -> None:
        """DISCONNECT (waiting for its receipt, so all before it was handled), then close."""
        try:
            if self.conn.is_connected():
                r = self.receipt()
                self.conn.disconnect(receipt=r)
                self.rec.wait_receipt(r)
        finally:
            self.conn.transport.stop()
            self.conn.transport.disconnect_socket()


def stomppy_client(broker: Broker, version: str, heartbeats: tuple[int, int] = (0, 0),
                   **options: object) -> Client:
    """A stomp.py connection at `version`, logged in to `broker`."""
    if version != "1.0":  # STOMP 1.0 has neither virtual hosts nor heart-beats
        options.update(vhost=broker.vhost, heartbeats=heartbeats)
    conn = CONNECTIONS[version]([broker.address], **options)
    rec = Recorder()
    conn.set_listener("recorder", rec)
    conn.connect(broker.login, broker.passcode, wait=True)
    assert rec.connected.wait(TIMEOUT), "stomp.py saw no CONNECTED"
    return Client(conn, version, rec)


@dataclass
class RawFrame:
    command: str
    headers: dict[str, str]
    body: bytes
    raw: bytes  # the frame as it came off the wire, NUL included


class RawClient:
    """A plain socket with a small frame reader (header values are left escaped)."""

    def __init__(self, broker: Broker, timeout: float = TIMEOUT) -> None:
        self.broker = broker
        self.sock = socket.create_connection(broker.address, timeout=timeout)
        self.buf = b""
        self.heartbeats = 0  # EOLs seen between frames

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def connect(self, version: str = "1.2", heartbeat: str = "0,0") -> RawFrame:
        b = self.broker
        self.send(f"CONNECT\naccept-version:{version}\nhost:{b.vhost}\nlogin:{b.login}\n"
                  f"passcode:{b.passcode}\nheart-beat:{heartbeat}\n\n\x00")
        frame = self.read_frame()
        assert frame.command == "CONNECTED", frame
        return frame

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        self.buf += data
        return bool(data)

    def _parse(self) -> RawFrame | None:
        stripped = self.buf.lstrip(b"\r\n")
        self.heartbeats += self.buf[: len(self.buf) - len(stripped)].count(b"\n")
        self.buf = stripped
        head_end = self.buf.find(b"\n\n")
        if head_end < 0:
            return None
        head = self.buf[:head_end].replace(b"\r\n", b"\n").decode("utf-8", "replace")
        command, *lines = head.split("\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers.setdefault(name, value)
        start = head_end + 2
        if "content-length" in headers:
            end = start + int(headers["content-length"])
            if len(self.buf) <= end:
                return None
        else:
            end = self.buf.find(b"\x00", start)
            if end < 0:
                return None
        body, raw, self.buf = self.buf[start:end], self.buf[:end + 1], self.buf[end + 1:]
        return RawFrame(command, headers, body, raw)

    def read_frame(self, timeout: float = TIMEOUT) -> RawFrame:
        """The next frame; AssertionError if the connection ends or nothing comes in time."""
        self.sock.settimeout(timeout)
        while (frame := self._parse()) is None:
            try:
                more = self._fill()
            except TimeoutError:
                raise AssertionError(f"no frame within {timeout} s; have {self.buf!r}") from None
            if not more:
                raise AssertionError(f"connection closed; unread bytes {self.buf!r}")
        return frame

    def wait_closed(self, timeout: float = TIMEOUT) -> bool:
        """True when the peer closes within `timeout` (bytes still arriving are kept)."""
        self.sock.settimeout(timeout)
        try:
            while self._fill():
                pass
        except TimeoutError:
            return False
        except OSError:
            pass
        return True

    def close(self) -> None:
        self.sock.close()


def assert_error_frame(frame: RawFrame, broker: Broker) -> None:
    """An ERROR frame as STOMP wants it; on ours, also a readable reason and no traceback."""
    assert frame.command == "ERROR", frame
    assert frame.headers.get("message"), f"ERROR without a message header: {frame}"
    if broker.is_comet:
        assert b"Traceback" not in frame.body, frame
        assert "Traceback" not in frame.headers["message"], frame


def assert_still_serving(broker: Broker) -> None:
    """A bad client must not have hurt the broker: a new client still logs in."""
    client = RawClient(broker)
    try:
        client.connect()
    finally:
        client.close()


class Forward(stomp.ConnectionListener):
    """Puts (tag, body) of each MESSAGE into a shared queue: several consumers, one stream."""

    def __init__(self, into: queue.Queue[tuple[int, str]], tag: int) -> None:
        self.into, self.tag = into, tag

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.into.put((self.tag, frame.body))
