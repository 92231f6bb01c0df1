"""A blocking WebSocket client for the tests: wsproto over a plain socket.

It does what a browser does on the wire (handshake with ``Origin`` and subprotocols,
masked frames, answering pings) and hands the test whole messages and the close code.
"""

from __future__ import annotations

import socket

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

TIMEOUT = 20


class Rejected(Exception):
    """The server answered the upgrade with an HTTP status."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body


class Closed(Exception):
    """The server closed the WebSocket (code and reason)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class WSClient:
    """One WebSocket: `send`, `receive` (one whole message), `close`."""

    def __init__(self, port: int, path: str, *, subprotocols: list[str] | None = None,
                 origin: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.ws = WSConnection(ConnectionType.CLIENT)
        headers = [(b"origin", origin.encode())] if origin else []
        self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}", target=path,
                                               subprotocols=subprotocols or [],
                                               extra_headers=headers)))
        self.subprotocol: str | None = None
        self.messages: list[str | bytes] = []
        self.closed: Closed | None = None
        self._partial: list[str | bytes] = []
        status, body = None, b""
        while True:
            event = self._next_event()
            if isinstance(event, AcceptConnection):
                self.subprotocol = event.subprotocol
                return
            if isinstance(event, RejectConnection):
                status = event.status_code
                if not event.has_body:
                    break
            elif isinstance(event, RejectData):
                body += event.data
                if event.body_finished:
                    break
        self.sock.close()
        raise Rejected(status or 0, body)

    def _next_event(self):
        while True:
            for event in self.ws.events():
                return event
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)
            if not data:
                for event in self.ws.events():
                    return event
                raise Closed(None, "connection dropped without a close frame")

    def send(self, message: str | bytes) -> None:
        event = TextMessage(message) if isinstance(message, str) else BytesMessage(message)
        self.sock.sendall(self.ws.send(event))

    def receive(self) -> str | bytes:
        """The next whole message; raises `Closed` when the server closes instead."""
        if self.closed is not None:
            raise self.closed
        while True:
            event = self._next_event()
            if isinstance(event, TextMessage | BytesMessage):
                self._partial.append(event.data)
                if event.message_finished:
                    parts, self._partial = self._partial, []
                    return "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.closed = Closed(event.code, event.reason)
                try:
                    self.sock.sendall(self.ws.send(event.response()))
                except OSError:
                    pass
                raise self.closed

    def close(self, code: int = 1000) -> None:
        try:
            self.sock.sendall(self.ws.send(CloseConnection(code)))
        except Exception:
            pass
        self.sock.close()

    def drop(self) -> None:
        """Lose the connection without a close frame (a network failure)."""
        self.sock.close()


class CometWS:
    """The comet WebSocket transport of a `CometClient`'s session (they share H and A).

    It keeps the client rules of the protocol page: drop the part of a ``d`` record
    already held, acknowledge after each message with data, upload from the last A.
    """

    def __init__(self, client, **options) -> None:
        from tests.transports.http.support import Records

        self.client = client
        self.records = Records
        self.ws = WSClient(client.port, f"/comet/{client.id}/ws?ack={client.held}", **options)
        self.applied: list[int] = []
        self.ended: tuple[str, str] | None = None

    def upload(self, data: bytes, offset: int | None = None, *, wait: bool = True) -> None:
        offset = self.client.sent if offset is None else offset
        self.ws.send(b"d %d\n%s" % (offset, data))
        if wait:
            count = len(self.applied)
            while len(self.applied) == count:
                self.read_one()

    def read_one(self) -> None:
        """Take one message: its records update the client; acknowledges data."""
        message = self.ws.receive()
        assert isinstance(message, bytes), f"a text message: {message!r}"
        if message.startswith(b"a "):
            applied = int(message[2:].split(b"\n", 1)[0])
            self.applied.append(applied)
            self.client.sent = max(self.client.sent, applied)
            message = message.split(b"\n", 1)[1]
        records = self.records().feed(message)
        carried_data = any(kind == "d" for kind, _ in records)
        self.client.apply(records)
        for kind, value in records:
            if kind in ("c", "e"):
                self.ended = (kind, value)
        if carried_data:
            self.ws.send(f"a {self.client.held}")

    def frames_until(self, predicate) -> list[bytes]:
        from tests.transports.http.support import stomp_frames

        while True:
            frames = stomp_frames(bytes(self.client.received))
            if predicate(frames):
                return frames
            self.read_one()
