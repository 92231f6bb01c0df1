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
- Back-pressure: while the socket's unsent output is over the transport's bound, the
  session's output stays in the session, where its slow-consumer bounds apply, and the
  socket is not read (nor its pings answered); while the session pauses reading (login
  check, flow control) the socket is not read either.
- Control frames: the pings of one read get one pong; a peer sending more than
  ``WebSocketLimits.control_rate`` pings and pongs per second is closed with 1008
  (`comet_core.transports.ws_control`).
- After an ERROR the socket closes with a code that says what kind of end it was
  (`close_code`); after DISCONNECT, 1000.

Twisted's `WebSocketResource` does the handshake but selects no subprotocol and cannot
refuse an upgrade, its message reassembly has no bound, and it answers every ping
whatever the socket's output holds; `upgrade` below is its ``render_GET`` with those
four added, on a subclass of the same wire protocol class (`BoundedWire`).
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
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextMessage,
)
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
from comet_core.transports.ws_control import ControlBudget, WebSocketLimits

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
    """Twisted's wire protocol with bounds on what a peer can make the server hold.

    - A message's bytes are counted as they arrive (before Twisted reassembles them), so a
      peer announcing a huge message is stopped after ``max_message`` bytes, not at its end.
    - Control frames (`comet_core.transports.ws_control`): the socket is not read while its
      unsent output is over the transport's bound; the pings of one read get one pong;
      past the control frame rate the socket closes with 1008.
    - A closed socket whose peer does not take its last bytes is cut after
      ``limits.close_timeout`` seconds.

    To the protocol it carries it is a transport as well: its registered producer hears
    when the output is full, and its ``pauseProducing`` adds up with the wire's own pauses.
    """

    max_message = 1 << 20
    limits = WebSocketLimits()
    reactor: Any = None
    _inbound = 0
    _stopped = False
    _budget: ControlBudget | None = None
    _producer: Any = None  # the carried protocol's, told when the output is full
    _output_full = False   # the transport's unsent output is over its bound
    _app_paused = False    # the carried protocol asked for no more messages for now
    _reading = True
    _abort: Any = None
    _channel: Any = None   # the HTTP connection this socket was upgraded from

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
        if self._stopped:
            return
        self._wsconn.receive_data(data)
        ping: Ping | None = None
        for event in self._wsconn.events():
            if isinstance(event, Ping | Pong):
                if not self._control_allowed():
                    return
                if isinstance(event, Ping):
                    ping = event  # the last ping of the read is answered, once
                    continue
            elif isinstance(event, TextMessage | BytesMessage):
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
            elif isinstance(event, CloseConnection):
                if self._wsconn.state is not ConnectionState.CLOSED:
                    self.transport.write(self._wsconn.send(event.response()))
                self._drop()
                return
            _handleEvent(event, self)
            if self._stopped:
                return
        if ping is not None and self._wsconn.state is ConnectionState.OPEN:
            self.transport.write(self._wsconn.send(ping.response()))

    def _control_allowed(self) -> bool:
        now = self.reactor.seconds()
        budget = self._budget
        if budget is None:
            budget = self._budget = ControlBudget(self.limits.control_rate, now)
        if budget.spend(now):
            return True
        peer = self.transport.getPeer()
        log.info("closing WebSocket {peer}: over {rate:g} control frames per second",
                 peer=f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}",
                 rate=self.limits.control_rate)
        self.close(POLICY, f"over {self.limits.control_rate:g} pings or pongs per second")
        return False

    @property
    def open(self) -> bool:
        return not self._stopped and self._wsconn.state is ConnectionState.OPEN

    def close(self, code: int = NORMAL, reason: str = "") -> None:
        """Send a close frame (when still possible) and drop the connection once written."""
        self._stopped = True
        if self._wsconn.state is ConnectionState.OPEN:
            encoded = reason.encode("utf-8")[:123].decode("utf-8", "ignore")  # RFC bound
            self.transport.write(self._wsconn.send(CloseConnection(code, encoded)))
        self._drop()

    def _drop(self) -> None:
        """Close the connection after its unsent output; cut it if the peer does not read."""
        self._stopped = True
        transport = self.transport
        if getattr(transport, "producer", None) is not None:
            transport.unregisterProducer()
        transport.loseConnection()
        if self._abort is None and self.reactor is not None:
            self._abort = self.reactor.callLater(self.limits.close_timeout,
                                                 transport.abortConnection)

    def connectionLost(self, reason: Failure) -> None:  # noqa: N802
        self._stopped = True
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        self._abort = self._producer = None
        super().connectionLost(reason)
        # No cycle may keep this connection (and the transport's unsent output) until the
        # garbage collector's next full pass: the carried protocol points back at us, and
        # the upgrade made the HTTP channel's own methods point at us too.
        self._wsp = None  # type: ignore[assignment]
        channel, self._channel = self._channel, None
        if channel is not None:
            for name in ("dataReceived", "connectionLost"):
                channel.__dict__.pop(name, None)

    # --- back-pressure: the TCP transport's producer is an `_OutputWatch` ---------------

    def _output_paused(self, full: bool) -> None:
        self._output_full = full
        self._update_reading()
        producer = self._producer
        if producer is not None:
            if full:
                producer.pauseProducing()
            else:
                producer.resumeProducing()

    def _output_stopped(self) -> None:
        self._output_full = True
        if self._producer is not None:
            self._producer.stopProducing()

    def _update_reading(self) -> None:
        reading = not (self._output_full or self._app_paused or self._stopped)
        if reading != self._reading:
            self._reading = reading
            if reading:
                self.transport.resumeProducing()
            else:
                self.transport.pauseProducing()

    # --- the transport the carried protocol sees ----------------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:  # noqa: N802
        """`producer` (a push producer) hears when the socket's output is full and drained."""
        self._producer = producer

    def unregisterProducer(self) -> None:  # noqa: N802
        self._producer = None

    def attachProducer(self, producer: Any) -> None:  # noqa: N802 (WebSocketTransport's)
        self._producer = producer

    def detachProducer(self) -> None:  # noqa: N802
        self._producer = None

    def pauseProducing(self) -> None:  # noqa: N802
        """Deliver no more messages until `resumeProducing` (the socket is not read)."""
        self._app_paused = True
        self._update_reading()

    def resumeProducing(self) -> None:  # noqa: N802
        self._app_paused = False
        self._update_reading()

    def abortConnection(self) -> None:  # noqa: N802
        self.transport.abortConnection()

    def setTcpKeepAlive(self, enabled: bool) -> None:  # noqa: N802
        keepalive = getattr(self.transport, "setTcpKeepAlive", None)
        if keepalive is not None:
            keepalive(enabled)


@implementer(IPushProducer)
class _OutputWatch:
    """The TCP transport's streaming producer under a `BoundedWire`: it tells the wire when
    the transport's unsent output goes over its bound and back under it."""

    __slots__ = ("wire",)

    def __init__(self, wire: BoundedWire) -> None:
        self.wire = wire

    def pauseProducing(self) -> None:  # noqa: N802 (Twisted's names)
        self.wire._output_paused(True)

    def resumeProducing(self) -> None:  # noqa: N802
        self.wire._output_paused(False)

    def stopProducing(self) -> None:  # noqa: N802
        self.wire._output_stopped()


def upgrade(request: Request, protocol: WebSocketProtocol, *, subprotocol: str | None = None,
            max_message: int = 1 << 20) -> Any:
    """Turn `request` into a WebSocket carrying `protocol`; returns what render must.

    Answers 400 (with a message) when the request is not a valid upgrade. Afterwards the
    protocol gets ``negotiationStarted(transport)`` and then ``negotiationFinished()``,
    the latter after the 101 response is written: write nothing before it. The site's
    ``websocket_limits`` (a `WebSocketLimits`, when set) bound the socket.
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
    site = getattr(request, "site", None)
    wire_protocol.limits = getattr(site, "websocket_limits", None) or WebSocketLimits()
    wire_protocol.reactor = getattr(site, "reactor", None) or _default_reactor()
    request.quiet = True  # type: ignore[attr-defined]
    channel._protocolUpgradeForWebsockets(wire_protocol)
    wire_protocol._channel = channel
    # The HTTP channel was the transport's producer; the WebSocket wire takes over.
    if getattr(transport, "producer", None) is not None:
        transport.unregisterProducer()
    transport.registerProducer(_OutputWatch(wire_protocol), True)
    # The request is over (the connection is a WebSocket's now): no cycle between them.
    if request in channel.requests:
        channel.requests.remove(request)
    if hasattr(transport, "setTcpNoDelay"):
        transport.setTcpNoDelay(True)
    transport.write(accept)
    protocol.negotiationFinished()
    return NOT_DONE_YET


def _default_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


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
        #: The carrier's transport is the WebSocket wire: its pauses of reading add up
        #: with the wire's own, and it says when the socket's output is full.
        self.transport: Any = None

    # --- WebSocketProtocol ----------------------------------------------------------------

    def negotiationStarted(self, transport: WebSocketTransport) -> None:  # noqa: N802
        assert isinstance(transport, BoundedWire)
        self.ws = self.transport = transport

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
