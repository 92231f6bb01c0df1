"""The comet WebSocket transport: one socket carrying both streams of a comet session.

``GET /comet/ID/ws?ack=H`` upgrades to a WebSocket that is at once the session's
`Waiter` (downstream) and its upload channel (upstream). It speaks the same numbers as the
HTTP transports (message format: `comet_core.transports.http`), which is the whole point:
a page may start on WebSocket, lose it to a proxy or a network change, go on with
long-polling and come back, and every byte arrives once and in order, because every
transport obeys the one rule of `comet_core.comet`: nothing is forgotten until the
client acknowledges it, and no upload is applied twice.

Why not simply raw STOMP over the socket, as ``/stomp`` does? Because a WebSocket that
drops takes its unacknowledged bytes with it; inside a comet session they wait for the
next transport.

Bounds: a message carries at most the upload bound and its header line (close code 1009
past it); downstream bytes in flight are bounded by the session's ``max_unacked``, since
the session stops writing until the client acknowledges; a silent socket gets a
keep-alive record every ``keepalive`` seconds, which also finds a dead peer. The wire
(`BoundedWire`, shared with ``/stomp``) keeps the rest: it stops reading a socket whose
answers (``a`` records, pongs) the client does not read, and closes one that sends too
many pings (1008).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.websocket import WebSocketTransport

from comet_core.comet import REPLACED, CometError, CometSession, StompBridge
from comet_core.transports import sending
from comet_core.transports.http import wire
from comet_core.transports.websocket import (
    NORMAL,
    TOO_BIG,
    BoundedWire,
    offered_subprotocols,
    upgrade,
)

if TYPE_CHECKING:
    from comet_core.transports.http.resource import CometResource

log = Logger(namespace="comet_core.http")

_UPLOAD = re.compile(rb"d ([0-9]{1,18})\n")
_ACK = re.compile(rb"a ([0-9]{1,18})")

#: Room for an upload message's header line (``d O\n``) beyond the upload bound.
HEADER_ROOM = 32


class CometWebSocket:
    """One WebSocket of a comet session: a `WebSocketProtocol` and the session's waiter."""

    __slots__ = ("resource", "session", "ack", "ws", "done", "keepalive")

    def __init__(self, resource: CometResource, session: CometSession, ack: int) -> None:
        self.resource = resource
        self.session = session
        self.ack = ack
        self.keepalive = resource.keepalive
        self.ws: BoundedWire | None = None
        self.done = False

    # --- WebSocketProtocol ----------------------------------------------------------------

    def negotiationStarted(self, transport: WebSocketTransport) -> None:  # noqa: N802
        assert isinstance(transport, BoundedWire)
        self.ws = transport

    def negotiationFinished(self) -> None:  # noqa: N802
        """Upgraded: take over the session's downstream (everything after `ack` first)."""
        resource = self.resource
        try:
            self._run(lambda: self.session.attach(self, self.ack, resource.clock(),
                                                  self.keepalive))
        except CometError as exc:
            self._end(4000 + exc.status_hint, str(exc))

    def textMessageReceived(self, message: str) -> None:  # noqa: N802
        self._message(message.encode("utf-8"))

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:  # noqa: N802
        self._message(bytes(data))

    def pongReceived(self, payload: bytes) -> None:  # noqa: N802
        pass

    def messageTooLarge(self, bound: int) -> None:  # noqa: N802 (BoundedWire's call)
        self._end(TOO_BIG, f"A message may carry at most {bound} bytes; upload in parts.")

    def connectionLost(self, reason: Failure) -> None:  # noqa: N802
        if not self.done:
            self.done = True
            resource = self.resource
            self.session.detach(self, resource.clock())
            resource._arm()

    # --- upstream: the client's messages ------------------------------------------------

    def _message(self, data: bytes) -> None:
        if self.done:
            return
        try:
            self._run(lambda: self._handle(data))
        except CometError as exc:
            self._end(4000 + exc.status_hint, str(exc))

    def _handle(self, data: bytes) -> None:
        session = self.session
        if data.startswith(b"d "):
            head = _UPLOAD.match(data)
            if head is None:
                raise CometError("An upload message starts with 'd OFFSET' and a newline.")
            applied = session.receive(int(head.group(1)), data[head.end():],
                                      self.resource.clock())
            bridge = session.app
            if isinstance(bridge, StompBridge):
                self.resource._service(bridge)
            self._send(b"a %d\n" % applied)
        elif data.startswith(b"a "):
            ack = _ACK.fullmatch(data)
            if ack is None:
                raise CometError("An acknowledgement message is 'a H', H a decimal count.")
            session.acknowledge(int(ack.group(1)))
        elif data == b"c":
            self.resource.store.close(session.session_id)
        else:
            raise CometError("Unknown message: send 'd OFFSET\\n' and bytes, 'a H', or 'c'.")

    def _run(self, action: Any) -> None:
        """Do `action` as the resource does a request: batch the wakeups, then flush them
        and move the store's timer."""
        resource = self.resource
        resource._depth += 1
        with sending.batch():
            try:
                action()
            finally:
                resource._depth -= 1
                resource._flush()
        resource._arm()

    # --- Waiter: the session's downstream -----------------------------------------------

    def send(self, offset: int, data: bytes, closed: str | None) -> bool:
        message = wire.data_record(offset, data) if data else b""
        if closed is not None:
            self._send(message + wire.closed_record(closed))
            self._end(NORMAL, closed, detach=False)
            return False
        self._send(message)
        return True

    def idle(self, now: float) -> float | None:
        if self.done:
            return None
        self._send(wire.KEEPALIVE_RECORD)
        return self.keepalive

    def finish(self, reason: str) -> None:
        if self.done:
            return
        if reason == REPLACED:
            self._send(wire.end_record(reason))
        else:
            self._send(wire.closed_record(reason))
        self._end(NORMAL, reason, detach=False)

    # --- internals ----------------------------------------------------------------------

    def _send(self, message: bytes) -> None:
        ws = self.ws
        if message and ws is not None and ws.open:
            ws.sendBytesMessage(message)

    def _end(self, code: int, reason: str, *, detach: bool = True) -> None:
        """Close the socket; the session stays (detached) for the next transport.
        `detach` is False inside the session's own calls (it let go of us already)."""
        if not self.done:
            self.done = True
            if detach:
                self.session.detach(self, self.resource.clock())
                self.resource._arm()
        if self.ws is not None:
            self.ws.close(code, reason)


def upgrade_session(resource: CometResource, request: Any, session: CometSession,
                    ack: int) -> None:
    """``GET /comet/ID/ws?ack=H``: refuse what the HTTP endpoints refuse, before the
    upgrade (a bad ack: 400), then upgrade with no subprotocol."""
    session.acknowledge(ack)
    if offered_subprotocols(request):
        wire.error(request, 400, "The comet WebSocket takes no subprotocol: offer none.")
        return
    max_message = session.limits.max_upload + HEADER_ROOM
    upgrade(request, CometWebSocket(resource, session, ack), max_message=max_message)
