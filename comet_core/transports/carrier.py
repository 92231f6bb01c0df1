"""What every connection that carries one STOMP `ServerSession` does, whatever the wire.

A `SessionCarrier` feeds the bytes it receives to its session, sends what the session
has for it, checks the login the session asks about, keeps the session's timer, follows
back-pressure both ways and closes when the session ends. A subclass says only how bytes
leave (`_send`) and how the connection closes (`_shut`): `StompProtocol` over TCP,
`StompWebSocket` over a WebSocket. Both are batched, logged and shut down by a
`StompFactory` in the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IDelayedCall, IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from comet_core.stomp.session import ServerSession, State
from comet_core.transports import sending
from comet_core.transports.auth import check_login, refusal

if TYPE_CHECKING:
    from comet_core.transports.tcp import StompFactory

log = Logger(namespace="comet_core.stomp")


@implementer(IPushProducer)
class SessionCarrier:
    """One `ServerSession` over one connection; the transport's streaming producer."""

    #: How the log names this kind of connection.
    kind = "STOMP connection"

    transport: Any  # the TCP transport under whatever protocol carries the bytes

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

    # --- what a subclass provides ----------------------------------------------------------

    def _send(self, data: bytes) -> None:
        """Put the session's output (possibly empty) on the wire."""
        raise NotImplementedError

    def _shut(self, reason: str | None, code: int | None) -> None:
        """Close the connection after what was sent (`code`: a WebSocket close code)."""
        raise NotImplementedError

    # --- the session's life ----------------------------------------------------------------

    def start_session(self) -> ServerSession:
        """Open the session once the connection can carry it; logs the connection."""
        factory = self.factory
        session = self.session = ServerSession(factory.hub, limits=factory.limits,
                                               clock=factory.reactor.seconds,
                                               defer_login=True)
        session.on_wakeup = self._wake
        if hasattr(self.transport, "setTcpKeepAlive"):
            self.transport.setTcpKeepAlive(True)
        self.transport.registerProducer(self, True)
        factory.connections.add(self)
        return session

    def received(self, data: bytes) -> None:
        """Bytes from the peer: the session reads them, then every woken session is served."""
        session = self.session
        if session is None or self._closing:
            return
        factory = self.factory
        # A message published here may reach thousands of comet clients: in a batch,
        # their answers leave together (`comet_core.transports.sending`).
        with sending.batch():
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
        """Do what the session asks: check a login, send, close, pause, set the timer."""
        session = self.session
        if session is None or self._servicing or self._closing:
            return
        self._servicing = True
        try:
            self._service(session)
        finally:
            self._servicing = False

    def _service(self, session: ServerSession) -> None:
        if session.login_request is not None and not self._checking:
            self._check_login(session)
        if not session.reading_paused:
            session.resume()
        if not self._write_paused or session.closed:
            self._send(session.data_to_send())
        if session.failure is not None:
            log.failure("STOMP session {session} of {peer} failed",
                        Failure(session.failure), session=session.session_id, peer=self.peer)
            session.failure = None
        if session.closed:
            self._close(session.close_reason)
            return
        paused = session.reading_paused
        if paused != self._read_paused:
            self._read_paused = paused
            if paused:
                self.transport.pauseProducing()
            else:
                self.transport.resumeProducing()
        self._schedule(session)

    def lost(self, reason: Failure) -> None:
        """The connection is gone: the session ends (an implicit abort, redeliveries)."""
        for call in (self._timer, self._abort):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._abort = None
        self.factory.connections.discard(self)
        session, self.session = self.session, None  # no cycle outlives the connection
        if session is None:
            return
        if not session.closed:
            session.connection_lost(f"connection lost: {reason.getErrorMessage()}")
            log.info("{kind} {peer} lost: {reason}", kind=self.kind, peer=self.peer,
                     reason=reason.getErrorMessage())
        else:
            session.connection_lost()
        self.factory.flush()  # redelivered messages went to other sessions

    # --- logins ----------------------------------------------------------------------------

    def _check_login(self, session: ServerSession) -> None:
        request = session.login_request
        assert request is not None
        self._checking = True
        host = self.peer.rpartition(":")[0] or None  # failed logins are slowed per host
        d = check_login(self.factory.checker, request.login, request.passcode, host)
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
        message, detail = refusal(failure)
        login = session.login_request.login if session.login_request else None
        log.info("{peer} refused login {login!r}: {detail}", peer=self.peer, login=login,
                 detail=detail)
        session.refuse_login(message, detail)
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

    def _close(self, reason: str | None, code: int | None = None) -> None:
        if self._closing:
            return
        self._closing = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        log.info("closing {kind} {peer}: {reason}", kind=self.kind, peer=self.peer,
                 reason=reason)
        self._shut(reason, code)
        # A peer that never reads would keep the connection open forever: cut it.
        self._abort = self.factory.reactor.callLater(self.factory.close_timeout,
                                                     self.transport.abortConnection)

    # --- IPushProducer: the transport tells us when its write buffer is full --------------

    def pauseProducing(self) -> None:  # noqa: N802 (Twisted's name)
        self._write_paused = True

    def resumeProducing(self) -> None:  # noqa: N802
        self._write_paused = False
        self.service()
        self.factory.flush()

    def stopProducing(self) -> None:  # noqa: N802
        self._write_paused = True
