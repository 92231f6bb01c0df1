"""STOMP over WebSocket at ``/stomp``, and the upgrade both WebSocket endpoints share.

A browser cannot open a TCP socket, but it can open a WebSocket, and STOMP needs nothing
more than a byte stream: this is the TCP adapter (`comet_core.transports.tcp`) again, with
messages in place of socket reads. Any standard STOMP-over-WebSocket client (stompjs with
``brokerURL``) connects to it unchanged. The wire rules are in
docs/reference/comet-protocol.md ("Raw STOMP over WebSocket"):

- Subprotocols ``v12.stomp``, ``v11.stomp``, ``v10.stomp``: the highest one offered is
  selected; a client offering none is accepted too (plain STOMP). The CONNECT's
  ``accept-version`` negotiates the version as over TCP.
- One `ServerSession` per socket, on the same hub as the TCP broker and the comet sessions;
  the same twisted.cred login check, heart-beats and timers, through a `StompFactory` (its
  wakeup batching and shutdown work unchanged for these connections).
- Each chunk of the session's output is one message: text when it is valid UTF-8,
  binary otherwise. Inbound messages are fed to the session as bytes (a frame may span
  messages); one message may carry at most ``max_message`` bytes: past it, an ERROR
  frame and close code 1009.
- Back-pressure: the socket is the TCP transport's push producer. While the transport's
  buffer is full the session's output stays in the session, where its slow-consumer
  bounds apply; while the session pauses reading (login check, flow control) the socket
  is not read.
- After an ERROR the socket closes with a code that says what kind of end it was
  (`close_code`); after DISCONNECT, 1000.

Twisted's `WebSocketResource` does the handshake but selects no subprotocol and cannot
refuse an upgrade, and its message reassembly has no bound; `upgrade` below is its
``render_GET`` with those three added, on the same wire protocol class.
"""

from __future__ import annotations

from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web._websocket_impl import (  # the wire protocol twisted.web.websocket uses
    _handleEvent,
    _WebSocketWireProtocol,
    serverBootstrap,
)
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.websocket import WebSocketProtocol, WebSocketTransport
from wsproto import ConnectionType
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, TextMessage
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError
from zope.interface import implementer

from comet_core.hub import Hub
from comet_core.stomp.frames import encode_frame
from comet_core.stomp.session import SessionLimits
from comet_core.transports.carrier import SessionCarrier
from comet_core.transports.http import wire
from comet_core.transports.http.cors import OriginPolicy, OriginRefused
from comet_core.transports.tcp import StompFactory

log = Logger(namespace="comet_core.websocket")

#: The STOMP subprotocols, best first.
STOMP_SUBPROTOCOLS = ("v12.stomp", "v11.stomp", "v10.stomp")

#: Close codes (RFC 6455, section 7.4.1).
NORMAL, GOING_AWAY, PROTOCOL_ERROR, POLICY, TOO_BIG = 1000, 1001, 1002, 1008, 1009

#: ERROR messages that end a session for a rule of the server, not a malformed frame.
_POLICY_ERRORS = ("login refused", "slow consumer", "heart-beat timeout", "connect timeout")


class Refused(Exception):
    """An upgrade refused before it happens: the HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- the upgrade, shared with the comet WebSocket transport ---------------------------------


class BoundedWire(_WebSocketWireProtocol):  # type: ignore[type-arg]
    """Twisted's wire protocol with a bound on each inbound message and a safe close.

    A message's bytes are counted as they arrive (before Twisted reassembles them), so a
    peer announcing a huge message is stopped after ``max_message`` bytes, not at its end.
    """

    max_message = 1 << 20
    _inbound = 0
    _stopped = False

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
        if self._stopped:
            return
        self._wsconn.receive_data(data)
        for event in self._wsconn.events():
            if isinstance(event, TextMessage | BytesMessage):
                size = len(event.data)
                if isinstance(event, TextMessage) and not event.data.isascii():
                    size = len(event.data.encode("utf-8"))
                self._inbound += size
                if self._inbound > self.max_message:
                    self._wsp.messageTooLarge(self.max_message)  # type: ignore[attr-defined]
                    self._stopped = True
                    return
                if event.message_finished:
                    self._inbound = 0
            _handleEvent(event, self)
            if self._stopped:
                return

    @property
    def open(self) -> bool:
        return not self._stopped and self._wsconn.state is ConnectionState.OPEN

    def close(self, code: int = NORMAL, reason: str = "") -> None:
        """Send a close frame (when still possible) and drop the connection once written."""
        self._stopped = True
        if self._wsconn.state is ConnectionState.OPEN:
            encoded = reason.encode("utf-8")[:123].decode("utf-8", "ignore")  # RFC bound
            self.transport.write(self._wsconn.send(CloseConnection(code, encoded)))
        transport = self.transport
        if getattr(transport, "producer", None) is not None:
            transport.unregisterProducer()
        transport.loseConnection()


def upgrade(request: Request, protocol: WebSocketProtocol, *, subprotocol: str | None = None,
            max_message: int = 1 << 20) -> Any:
    """Turn `request` into a WebSocket carrying `protocol`; returns what render must.

    Answers 400 (with a message) when the request is not a valid upgrade. Afterwards the
    protocol gets ``negotiationStarted(transport)`` and then ``negotiationFinished()``,
    the latter after the 101 response is written: write nothing before it.
    """
    handshake = H11Handshake(ConnectionType.SERVER)
    headers = [(key, value) for key, values in request.requestHeaders.getAllRawHeaders()
               for value in values]
    try:
        handshake.initiate_upgrade_connection(headers, request.uri)
    except RemoteProtocolError as exc:
        wire.error(request, 400, f"This address takes WebSocket upgrades only ({exc}).")
        return NOT_DONE_YET
    accept = handshake.send(AcceptConnection(subprotocol=subprotocol))
    connection = handshake.connection
    channel = request.channel
    transport = channel.transport
    assert connection is not None and transport is not None
    wire_protocol = BoundedWire(connection, serverBootstrap, protocol)
    wire_protocol.max_message = max_message
    request.quiet = True  # type: ignore[attr-defined]
    channel._protocolUpgradeForWebsockets(wire_protocol)
    # The HTTP channel was the transport's producer; the WebSocket protocol takes over.
    if getattr(transport, "producer", None) is not None:
        transport.unregisterProducer()
    if hasattr(transport, "setTcpNoDelay"):
        transport.setTcpNoDelay(True)
    transport.write(accept)
    protocol.negotiationFinished()
    return NOT_DONE_YET


def offered_subprotocols(request: Request) -> list[str]:
    """The subprotocols the client offered, in its order."""
    offered: list[str] = []
    for value in request.requestHeaders.getRawHeaders(b"sec-websocket-protocol", []):
        offered += [p.strip() for p in value.decode("latin-1").split(",") if p.strip()]
    return offered


def peer_of(request: Request) -> str:
    peer = request.getClientAddress()
    return f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}"


def close_code(reason: str | None) -> int:
    """The close code after a STOMP session ended for `reason` (its ``close_reason``)."""
    if not reason or not reason.startswith("ERROR "):
        return NORMAL
    message = reason[len("ERROR "):]
    if message == "server shutting down":
        return GOING_AWAY
    if message in _POLICY_ERRORS:
        return POLICY
    return PROTOCOL_ERROR


# --- STOMP over one WebSocket ---------------------------------------------------------------


@implementer(IPushProducer)
class StompWebSocket(SessionCarrier):
    """One STOMP session over one WebSocket (a `WebSocketProtocol`); the carrier's work is
    shared with TCP (`SessionCarrier`), only sending and closing are the WebSocket's."""

    kind = "STOMP WebSocket"

    def __init__(self, factory: StompFactory, peer: str, subprotocol: str | None) -> None:
        super().__init__(factory)
        self.peer = peer
        self.subprotocol = subprotocol
        self.ws: BoundedWire | None = None
        self.transport: Any = None  # the TCP transport under the WebSocket

    # --- WebSocketProtocol ----------------------------------------------------------------

    def negotiationStarted(self, transport: WebSocketTransport) -> None:  # noqa: N802
        assert isinstance(transport, BoundedWire)
        self.ws = transport
        self.transport = transport.transport

    def negotiationFinished(self) -> None:  # noqa: N802
        session = self.start_session()
        log.info("STOMP WebSocket from {peer} ({subprotocol}, session {session})",
                 peer=self.peer, subprotocol=self.subprotocol or "no subprotocol",
                 session=session.session_id)
        self.service()

    def textMessageReceived(self, message: str) -> None:  # noqa: N802
        self.received(message.encode("utf-8"))

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:  # noqa: N802
        self.received(bytes(data))

    def pongReceived(self, payload: bytes) -> None:  # noqa: N802
        pass

    def messageTooLarge(self, bound: int) -> None:  # noqa: N802 (BoundedWire's call)
        session = self.session
        if session is None or session.closed:
            return
        detail = (f"A WebSocket message may carry at most {bound} bytes; send a large "
                  "frame in several messages.")
        error = encode_frame("ERROR", [("message", "message too large"),
                                       ("content-type", "text/plain")],
                             detail.encode(), session.version)
        out = session.data_to_send() + error
        session.connection_lost("ERROR message too large")
        self._send(out)
        self._close("message too large", TOO_BIG)

    def connectionLost(self, reason: Failure) -> None:  # noqa: N802
        self.lost(reason)

    # --- the carrier's two hooks ----------------------------------------------------------

    def _send(self, data: bytes) -> None:
        ws = self.ws
        if not data or ws is None or not ws.open:
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            ws.sendBytesMessage(data)
        else:
            ws.sendTextMessage(text)

    def _shut(self, reason: str | None, code: int | None) -> None:
        if self.ws is not None:
            self.ws.close(close_code(reason) if code is None else code, reason or "")


class StompWebSocketResource(Resource):
    """``/stomp``: STOMP over WebSocket for any standard client; see the module docstring."""

    isLeaf = True

    def __init__(self, hub: Hub, *, checker: ICredentialsChecker | None = None,
                 limits: SessionLimits | None = None, reactor: Any = None,
                 allowed_origins: tuple[str, ...] = (),
                 max_message: int | None = None) -> None:
        super().__init__()
        self.factory = StompFactory(hub, checker=checker, limits=limits, reactor=reactor)
        self.origins = OriginPolicy(allowed_origins)
        limits = self.factory.limits
        #: A frame at the session's bound, with its headers, fits in one message.
        self.max_message = max_message or limits.max_frame_size + (64 << 10)

    def render(self, request: Request) -> Any:
        request.quiet = True  # type: ignore[attr-defined]
        if request.method != b"GET":
            wire.error(request, 405, "This address takes WebSocket upgrades (GET) only.",
                       b"Allow: GET\r\n")
            return NOT_DONE_YET
        try:
            self.origins.check(request)
            subprotocol = choose_stomp_subprotocol(offered_subprotocols(request))
        except OriginRefused as exc:
            wire.error(request, 403, str(exc))
            return NOT_DONE_YET
        except Refused as exc:
            wire.error(request, exc.status, str(exc))
            return NOT_DONE_YET
        protocol = StompWebSocket(self.factory, peer_of(request), subprotocol)
        return upgrade(request, protocol, subprotocol=subprotocol,
                       max_message=self.max_message)

    def shutdown(self) -> Any:
        """End every session with an ERROR (close code 1001); a Deferred fires when done."""
        return self.factory.shutdown()


def choose_stomp_subprotocol(offered: list[str]) -> str | None:
    """The best STOMP subprotocol offered; None when none was offered; `Refused` when
    only others were (the client would not understand our answer)."""
    if not offered:
        return None
    for name in STOMP_SUBPROTOCOLS:
        if name in offered:
            return name
    shown = ", ".join(offered)[:200]
    raise Refused(400, f"None of the subprotocols offered ({shown}) is STOMP: offer "
                       f"{', '.join(STOMP_SUBPROTOCOLS)}, or none.")
