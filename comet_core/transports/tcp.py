"""STOMP over TCP: a thin Twisted adapter around `ServerSession`.

One `StompProtocol` per connection feeds the socket's bytes to its session and writes the
session's output back. All the protocol is in the session; what is here is I/O policy,
in `SessionCarrier` (comet_core.transports.carrier), which the /stomp WebSocket shares:

- Output is written in one ``transport.write`` per batch, with TCP_NODELAY set, so a frame
  never waits on Nagle's algorithm. A batch is everything a read produced, for every
  session that read touched: the factory collects the sessions woken during a
  ``dataReceived`` (a SEND fans out to many) and flushes them once at its end; a wakeup
  from elsewhere (a timer, another transport) flushes on the next reactor turn.
- Back-pressure both ways. The protocol is the transport's streaming producer: when the
  kernel and Twisted's buffer are full, the session's output stays in the session, where
  its bounds apply (`SessionLimits.outbound_soft`/``outbound_hard``). When the session
  pauses reading (login check, flow control) the adapter stops reading the socket.
- Timers: one ``callLater`` per connection at the session's `next_deadline`, moved only
  when the deadline comes sooner (a later one is found when the timer fires).
- Logins go through a twisted.cred checker (`comet_core.transports.auth`); failed ones
  are slowed down per client address (`comet_core.throttle`).
- Memory: every session of the hub charges its buffers to the hub's `MemoryBudget`
  (`comet_core.budget`); `listen_stomp` gives the hub one when it has none.
- The listen backlog (`DEFAULT_BACKLOG`) lets thousands of clients connect at once; the
  kernel caps it at ``net.core.somaxconn``.
- The log says who connected, who logged in, and why each connection ended; a bug in the
  broker is logged with its traceback, while the client only gets an ERROR frame.
"""

from __future__ import annotations

from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from comet_core.budget import MemoryBudget
from comet_core.hub import Hub
from comet_core.stomp.session import SessionLimits
from comet_core.throttle import LoginThrottle
from comet_core.transports.auth import AcceptEveryone, throttled
from comet_core.transports.carrier import SessionCarrier

log = Logger(namespace="comet_core.stomp")

#: Connections the kernel queues for accept(): Twisted's default of 50 makes thousands of
#: clients connecting at once wait for retransmitted SYNs. Linux caps it at
#: net.core.somaxconn (4096 since Linux 5.4).
DEFAULT_BACKLOG = 4096


class StompProtocol(SessionCarrier, Protocol):
    """One STOMP connection: socket bytes in and out of one `ServerSession`."""

    def connectionMade(self) -> None:  # noqa: N802 (Twisted's name)
        transport = self.transport
        if hasattr(transport, "setTcpNoDelay"):
            transport.setTcpNoDelay(True)
        peer = transport.getPeer()
        self.peer = f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}"
        session = self.start_session()
        log.info("STOMP connection from {peer} (session {session})",
                 peer=self.peer, session=session.session_id)
        self.service()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.received(data)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]  # noqa: N802
        self.lost(reason)

    def _send(self, data: bytes) -> None:
        if data:
            self.transport.write(data)

    def _shut(self, reason: str | None, code: int | None) -> None:
        self.transport.unregisterProducer()
        self.transport.loseConnection()


class StompFactory(Factory):
    """Builds a `StompProtocol` for each connection; they share one hub, checker and limits."""

    protocol = StompProtocol  # type: ignore[assignment]

    def __init__(self, hub: Hub, *, checker: ICredentialsChecker | None = None,
                 limits: SessionLimits | None = None, reactor: Any = None,
                 close_timeout: float = 10.0, throttle: LoginThrottle | None = None) -> None:
        """`checker` is wrapped with a login `throttle` (a fresh one when not given)
        unless it already has one; without a checker everyone is let in."""
        if reactor is None:
            from twisted.internet import reactor as default_reactor
            reactor = default_reactor
        self.hub = hub
        self.checker = AcceptEveryone() if checker is None else throttled(checker, throttle)
        self.limits = limits or SessionLimits()
        self.reactor = reactor
        self.close_timeout = close_timeout
        self.noisy = False  # no "Starting factory" lines in the log
        self.connections: set[SessionCarrier] = set()
        self.depth = 0  # > 0 inside a dataReceived: its end flushes
        self._woken: list[SessionCarrier] = []
        self._flush_call: IDelayedCall | None = None

    def buildProtocol(self, addr: Any) -> StompProtocol:
        return StompProtocol(self)

    def wake(self, protocol: SessionCarrier) -> None:
        """A session has something for its connection: service it with this batch."""
        if protocol.queued:
            return
        protocol.queued = True
        self._woken.append(protocol)
        if not self.depth and self._flush_call is None:
            self._flush_call = self.reactor.callLater(0, self.flush)

    def flush(self) -> None:
        """Service every woken connection (each writes its output in one go)."""
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None
        self.depth += 1  # wakeups during the flush join this loop, not a new callLater
        try:
            while self._woken:
                woken, self._woken = self._woken, []
                for protocol in woken:
                    protocol.queued = False
                    protocol.service()
        finally:
            self.depth -= 1

    def shutdown(self) -> defer.Deferred[None]:
        """End every session with an ERROR saying so; fires once all are gone (or soon)."""
        for protocol in list(self.connections):
            if protocol.session is not None:
                protocol.session.shutdown()
                protocol.service()
        done: defer.Deferred[None] = defer.Deferred()

        def check(deadline: float) -> None:
            if not self.connections or self.reactor.seconds() >= deadline:
                for protocol in list(self.connections):
                    protocol.transport.abortConnection()
                done.callback(None)
            else:
                self.reactor.callLater(0.05, check, deadline)

        check(self.reactor.seconds() + min(self.close_timeout, 3.0))
        return done


def listen_stomp(reactor: Any, hub: Hub, host: str = "127.0.0.1", port: int = 61613, *,
                 checker: ICredentialsChecker | None = None,
                 limits: SessionLimits | None = None,
                 backlog: int = DEFAULT_BACKLOG) -> IListeningPort:
    """Listen for STOMP clients on host:port (0 picks a free port); returns the port.

    Its sessions share `hub`, so a broker started next to the HTTP server shares its
    destinations with the HTTP transports, and the hub's memory budget (a default
    `MemoryBudget` is set on a hub without one). At reactor shutdown every client gets an
    ERROR "server shutting down" before its connection closes. ``port.getHost().port`` is
    the bound port; raises twisted's CannotListenError when the address is taken.
    """
    if hub.budget is None:
        hub.budget = MemoryBudget()
    factory = StompFactory(hub, checker=checker, limits=limits, reactor=reactor)
    listening = reactor.listenTCP(port, factory, backlog=backlog, interface=host)
    reactor.addSystemEventTrigger("before", "shutdown", factory.shutdown)
    return listening
