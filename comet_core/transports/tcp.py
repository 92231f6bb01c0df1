"""STOMP over TCP: a thin Twisted adapter around `ServerSession`.

One `StompProtocol` per connection feeds the socket's bytes to its session and writes the
session's output back. All the protocol is in the session; what is here is I/O policy:

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
- Logins go through a twisted.cred checker (`comet_core.transports.auth`).
- The log says who connected, who logged in, and why each connection ended; a bug in the
  broker is logged with its traceback, while the client only gets an ERROR frame.
"""

from __future__ import annotations

from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IListeningPort, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from comet_core.hub import Hub
from comet_core.stomp.session import ServerSession, SessionLimits, State
from comet_core.transports.auth import AcceptEveryone, check_login, refusal_detail

log = Logger(namespace="comet_core.stomp")


@implementer(IPushProducer)
class StompProtocol(Protocol):
    """One STOMP connection: socket bytes in and out of one `ServerSession`."""

    def __init__(self, factory: StompFactory) -> None:
        self.factory = factory
        self.session: ServerSession | None = None
        self.peer = "?"
        self.queued = False  # in the factory's list of sessions to flush
        self._timer: IDelayedCall | None = None
        self._abort: IDelayedCall | None = None
        self._write_paused = False  # the transport's buffer is full
        self._read_paused = False   # we stopped reading for the session
        self._checking = False      # a login check is under way
        self._servicing = False
        self._closing = False

    def connectionMade(self) -> None:
        transport = self.transport
        for option in ("setTcpNoDelay", "setTcpKeepAlive"):
            if hasattr(transport, option):
                getattr(transport, option)(True)
        peer = transport.getPeer()
        self.peer = f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}"
        factory = self.factory
        session = self.session = ServerSession(factory.hub, limits=factory.limits,
                                               clock=factory.reactor.seconds,
                                               defer_login=True)
        session.on_wakeup = self._wake
        transport.registerProducer(self, True)
        factory.connections.add(self)
        log.info("STOMP connection from {peer} (session {session})",
                 peer=self.peer, session=session.session_id)
        self.service()

    def dataReceived(self, data: bytes) -> None:
        session = self.session
        if session is None:
            return
        factory = self.factory
        factory.depth += 1
        try:
            session.receive_data(data)
        finally:
            factory.depth -= 1
        self.service()
        factory.flush()

    def _wake(self) -> None:
        self.factory.wake(self)

    def service(self) -> None:
        """Do what the session asks: check a login, write, close, pause, set the timer."""
        session = self.session
        if session is None or self._servicing:
            return
        self._servicing = True
        try:
            self._service(session)
        finally:
            self._servicing = False

    def _service(self, session: ServerSession) -> None:
        transport = self.transport
        if session.login_request is not None and not self._checking:
            self._check_login(session)
        if not session.reading_paused:
            session.resume()
        if not self._write_paused or session.closed:
            data = session.data_to_send()
            if data:
                transport.write(data)
        if session.failure is not None:
            log.failure("STOMP session {session} of {peer} failed",
                        Failure(session.failure), session=session.session_id, peer=self.peer)
            session.failure = None
        if session.closed:
            self._close(session)
            return
        paused = session.reading_paused
        if paused != self._read_paused:
            self._read_paused = paused
            if paused:
                transport.pauseProducing()
            else:
                transport.resumeProducing()
        self._schedule(session)

    # --- logins ------------------------------------------------------------------------

    def _check_login(self, session: ServerSession) -> None:
        request = session.login_request
        assert request is not None
        self._checking = True
        d = check_login(self.factory.checker, request.login, request.passcode)
        d.addCallbacks(self._login_accepted, self._login_refused)
        d.addErrback(lambda f: log.failure("login handling failed", f))

    def _login_accepted(self, user: str | None) -> None:
        self._checking = False
        session = self.session
        if session is None or session.state is not State.LOGGING_IN:
            return
        session.accept_login(user)
        log.info("{peer} logged in as {user} (session {session}, STOMP {version})",
                 peer=self.peer, user=user or "anonymous", session=session.session_id,
                 version=session.version)
        self._after_callback()

    def _login_refused(self, failure: Failure) -> None:
        self._checking = False
        session = self.session
        if session is None or session.state is not State.LOGGING_IN:
            return
        detail = refusal_detail(failure)
        login = session.login_request.login if session.login_request else None
        log.info("{peer} refused login {login!r}: {detail}", peer=self.peer, login=login,
                 detail=detail)
        session.refuse_login("login refused", detail)
        self._after_callback()

    def _after_callback(self) -> None:
        if not self._servicing:  # an asynchronous verdict: act on it now
            self.service()
            self.factory.flush()

    # --- timers and closing ----------------------------------------------------------------

    def _schedule(self, session: ServerSession) -> None:
        deadline = session.next_deadline()
        timer = self._timer
        if deadline is None:
            if timer is not None and timer.active():
                timer.cancel()
            self._timer = None
            return
        delay = max(0.0, deadline - self.factory.reactor.seconds())
        if timer is not None and timer.active():
            if timer.getTime() > deadline:
                timer.reset(delay)
            return
        self._timer = self.factory.reactor.callLater(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.session is not None:
            self.session.tick()
            self.service()
            self.factory.flush()

    def _close(self, session: ServerSession) -> None:
        if self._closing:
            return
        self._closing = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        log.info("closing STOMP connection {peer}: {reason}", peer=self.peer,
                 reason=session.close_reason)
        transport = self.transport
        transport.unregisterProducer()
        transport.loseConnection()
        # A peer that never reads would keep the connection open forever: cut it.
        self._abort = self.factory.reactor.callLater(self.factory.close_timeout,
                                                     transport.abortConnection)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        for call in (self._timer, self._abort):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._abort = None
        session = self.session
        self.factory.connections.discard(self)
        if session is None:
            return
        if not session.closed:
            session.connection_lost(f"connection lost: {reason.getErrorMessage()}")
            log.info("STOMP connection {peer} lost: {reason}", peer=self.peer,
                     reason=reason.getErrorMessage())
        else:
            session.connection_lost()
        self.session = None  # no cycle protocol <-> session outlives the connection
        self.factory.flush()  # redelivered messages went to other sessions

    # --- IPushProducer: the transport tells us when its write buffer is full --------------

    def pauseProducing(self) -> None:
        self._write_paused = True

    def resumeProducing(self) -> None:
        self._write_paused = False
        self.service()
        self.factory.flush()

    def stopProducing(self) -> None:
        self._write_paused = True


class StompFactory(Factory):
    """Builds a `StompProtocol` for each connection; they share one hub, checker and limits."""

    protocol = StompProtocol  # type: ignore[assignment]

    def __init__(self, hub: Hub, *, checker: ICredentialsChecker | None = None,
                 limits: SessionLimits | None = None, reactor: Any = None,
                 close_timeout: float = 10.0) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor
            reactor = default_reactor
        self.hub = hub
        self.checker = checker or AcceptEveryone()
        self.limits = limits or SessionLimits()
        self.reactor = reactor
        self.close_timeout = close_timeout
        self.noisy = False  # no "Starting factory" lines in the log
        self.connections: set[StompProtocol] = set()
        self.depth = 0  # > 0 inside a dataReceived: its end flushes
        self._woken: list[StompProtocol] = []
        self._flush_call: IDelayedCall | None = None

    def buildProtocol(self, addr: Any) -> StompProtocol:
        return StompProtocol(self)

    def wake(self, protocol: StompProtocol) -> None:
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
                 limits: SessionLimits | None = None) -> IListeningPort:
    """Listen for STOMP clients on host:port (0 picks a free port); returns the port.

    Its sessions share `hub`, so a broker started next to the HTTP server shares its
    destinations with the HTTP transports. At reactor shutdown every client gets an ERROR
    "server shutting down" before its connection closes. ``port.getHost().port`` is the
    bound port; raises twisted's CannotListenError when the address is taken.
    """
    factory = StompFactory(hub, checker=checker, limits=limits, reactor=reactor)
    listening = reactor.listenTCP(port, factory, interface=host)
    reactor.addSystemEventTrigger("before", "shutdown", factory.shutdown)
    return listening
