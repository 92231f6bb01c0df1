"""The ``/comet/`` resource: routing, the session store's one timer, STOMP wakeups, logins.

`CometResource` is the Twisted adapter around `comet_core.comet`: it turns each request
into a call on the session store or a session, hands held requests to the session as
waiters (`PollWaiter`, `StreamWaiter`, `SSEWaiter`), and answers every refusal with its
status and message (`CometError.status_hint`). The wire protocol is described in
`comet_core.transports.http`.

Per-server, not per-request, machinery, because thousands of sessions idle at once:

- one ``callLater`` at the store's `next_deadline` (held requests' hold time, expiry,
  STOMP heart-beats), moved only when the deadline comes sooner;
- one batch of woken STOMP sessions: a message published to a topic wakes every
  subscriber's bridge, they are collected and pumped together on the next reactor turn
  (or at the end of the upload that published it), each answering its held request in
  one write;
- one login checker, the same twisted.cred checker the TCP broker uses.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from comet_core.comet import (
    CometError,
    CometLimits,
    CometSession,
    SessionStore,
    StompBridge,
    is_session_id,
)
from comet_core.hub import Hub
from comet_core.stomp.session import SessionLimits
from comet_core.stomp.session import State as StompState
from comet_core.transports import sending
from comet_core.transports.auth import AcceptEveryone, check_login, refusal
from comet_core.transports.http import wire
from comet_core.transports.http.cors import PREFLIGHT, OriginPolicy, OriginRefused
from comet_core.transports.http.longpoll import PollWaiter
from comet_core.transports.http.request import CometRequest
from comet_core.transports.http.sse import SSEWaiter
from comet_core.transports.http.streaming import StreamWaiter
from comet_core.transports.http.ws import upgrade_session

log = Logger(namespace="comet_core.http")

_NUMBER = re.compile(rb"[0-9]{1,18}")


class BadRequest(CometError):
    """A parameter missing or malformed."""


class CometResource(Resource):
    """Every comet session of one server, over HTTP; mount it at ``/comet/``."""

    isLeaf = True

    def __init__(self, hub: Hub, *, reactor: Any = None, limits: CometLimits | None = None,
                 stomp_limits: SessionLimits | None = None,
                 checker: ICredentialsChecker | None = None,
                 allowed_origins: tuple[str, ...] = (), recycle: int = 1 << 20,
                 keepalive: float = 15.0) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as default_reactor
            reactor = default_reactor
        self.hub = hub
        self.reactor = reactor
        self.clock = reactor.seconds
        self.store = SessionStore(limits)
        self.limits = self.store.limits
        self.stomp_limits = stomp_limits
        self.checker = checker or AcceptEveryone()
        self.origins = OriginPolicy(allowed_origins)
        self.recycle = recycle
        self.keepalive = keepalive
        self._timer: IDelayedCall | None = None
        self._woken: list[StompBridge] = []
        self._flush_call: IDelayedCall | None = None
        self._depth = 0
        self._checking: set[StompBridge] = set()

    # --- routing ------------------------------------------------------------------------

    def render(self, request: CometRequest) -> Any:  # type: ignore[override]
        request.quiet = True
        transport = request.channel.transport
        if hasattr(transport, "setTcpNoDelay"):
            transport.setTcpNoDelay(True)
        cors = b""
        self._depth += 1
        with sending.batch():  # what this request publishes reaches every client together
            try:
                cors = self.origins.check(request)
                self._route(request, cors)
            except OriginRefused as exc:
                wire.error(request, 403, str(exc))
            except CometError as exc:
                wire.error(request, exc.status_hint, str(exc), cors)
            finally:
                self._depth -= 1
            self._flush()
        self._arm()
        return NOT_DONE_YET

    def _route(self, request: CometRequest, cors: bytes) -> None:
        path = request.postpath
        method = request.method
        if method == b"OPTIONS":
            if len(path) > 2:
                raise CometError("There is no such comet endpoint.")
            wire.respond(request, 204, extra=cors + PREFLIGHT)
            return
        if not path:  # "/comet", without its slash: no endpoint is there
            wire.error(request, 404, "There is no comet endpoint at this address: "
                       "the endpoints are under /comet/.", cors)
            return
        if len(path) == 1 and path[0] == b"":
            if method != b"POST":
                return self._not_allowed(request, b"POST", cors)
            return self._open(request, cors)
        session_id = path[0].decode("latin-1")
        if not is_session_id(session_id) or len(path) > 2:
            wire.error(request, 404, "There is no comet endpoint at this address.", cors)
            return
        action = path[1] if len(path) == 2 else b""
        if action == b"":
            if method != b"DELETE":
                return self._not_allowed(request, b"DELETE", cors)
            self.store.close(session_id)
            wire.respond(request, 204, extra=cors)
        elif action == b"send":
            if method != b"POST":
                return self._not_allowed(request, b"POST", cors)
            self._send(request, cors, self.store.get(session_id))
        elif action in (b"poll", b"stream", b"sse"):
            if method != b"GET":
                return self._not_allowed(request, b"GET", cors)
            self._down(request, cors, self.store.get(session_id), action)
        elif action == b"ws":
            if method != b"GET":
                return self._not_allowed(request, b"GET", cors)
            upgrade_session(self, request, self.store.get(session_id), _number(request, b"ack"))
        else:
            wire.error(request, 404, "There is no comet endpoint at this address.", cors)

    @staticmethod
    def _not_allowed(request: CometRequest, allow: bytes, cors: bytes) -> None:
        wire.error(request, 405, f"This endpoint takes {allow.decode()} only.",
                   cors + b"Allow: %s, OPTIONS\r\n" % allow)

    # --- the endpoints ----------------------------------------------------------------------

    def _open(self, request: CometRequest, cors: bytes) -> None:
        client_key = getattr(request, "client_key", None)  # the bound per client address
        session = self.store.open(self.clock(), client_key() if client_key else None)
        bridge = StompBridge(session, self.hub, clock=self.clock, limits=self.stomp_limits,
                             defer_login=True)
        bridge.on_wakeup = partial(self._wake, bridge)
        bridge.can_carry = sending.batching
        wire.respond(request, 201, session.session_id.encode("ascii"), extra=cors)

    def _send(self, request: CometRequest, cors: bytes, session: CometSession) -> None:
        offset = _number(request, b"offset")
        data = request.content.getvalue() if request.content is not None else b""
        applied = session.receive(offset, data, self.clock())
        bridge = session.app
        if isinstance(bridge, StompBridge):
            self._service(bridge)
        wire.respond(request, 200, b"%d\n" % applied, extra=cors)

    def _down(self, request: CometRequest, cors: bytes, session: CometSession,
              kind: bytes) -> None:
        if kind == b"sse":
            resume = request.requestHeaders.getRawHeaders(b"last-event-id")
            if resume and _NUMBER.fullmatch(resume[0].strip()):
                ack = int(resume[0])
            else:
                ack = _number(request, b"ack")
        else:
            ack = _number(request, b"ack")
        now = self.clock()
        if kind == b"poll":
            hold = _number(request, b"hold", None)
            waiter: Any = PollWaiter(request, cors)
            session.acknowledge(ack)  # refuse a bad ack before anything is written
        else:
            hold = self.keepalive
            recycle = _number(request, b"recycle", self.recycle)
            recycle = max(1, min(recycle, self.recycle))
            session.acknowledge(ack)
            if kind == b"stream":
                waiter = StreamWaiter(request, cors, recycle, self.keepalive)
            else:
                waiter = SSEWaiter(request, cors, recycle, self.keepalive)
        request.comet_waiter = waiter
        waiter.lost = partial(self._lost, session, waiter)
        session.attach(waiter, ack, now, None if hold is None else float(hold))
        if session.waiter is waiter:  # held: drop what the request no longer needs
            request.slim()
            if kind == b"poll":
                waiter.held()

    def _lost(self, session: CometSession, waiter: Any) -> None:
        waiter.done = True
        waiter.lost = None
        session.detach(waiter, self.clock())
        self._arm()

    # --- STOMP sessions: wakeups and logins ------------------------------------------------

    def _wake(self, bridge: StompBridge) -> None:
        self._woken.append(bridge)
        if not self._depth and self._flush_call is None:
            self._flush_call = self.reactor.callLater(0, self._flush_now)

    def _flush_now(self) -> None:
        self._flush_call = None
        self._flush()
        self._arm()

    def _flush(self) -> None:
        """Pump every woken bridge: each answers its held request, if it has one.

        Inside a `sending.batch`: every answer's bytes leave first, the channels' bookkeeping
        after them."""
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        self._depth += 1
        try:
            with sending.batch():
                while self._woken:
                    woken, self._woken = self._woken, []
                    for bridge in woken:
                        stomp = bridge.stomp
                        if stomp.login_request is None:  # `_service`, inline: the usual case
                            bridge.pump()
                            if stomp.failure is not None:
                                self._log_failure(stomp)
                        else:
                            self._service(bridge)
        finally:
            self._depth -= 1

    def _service(self, bridge: StompBridge) -> None:
        stomp = bridge.stomp
        if stomp.login_request is not None and bridge not in self._checking:
            self._check_login(bridge)
        bridge.pump()
        if stomp.failure is not None:
            self._log_failure(stomp)

    @staticmethod
    def _log_failure(stomp: Any) -> None:
        log.failure("STOMP session {session} over comet failed", Failure(stomp.failure),
                    session=stomp.session_id)
        stomp.failure = None

    def _check_login(self, bridge: StompBridge) -> None:
        request = bridge.stomp.login_request
        assert request is not None
        self._checking.add(bridge)
        # Failed logins are slowed down per client address (`comet_core.throttle`).
        address = self.store.client_of(bridge.session.session_id)
        d = check_login(self.checker, request.login, request.passcode, address)
        d.addCallbacks(partial(self._login_accepted, bridge),
                       partial(self._login_refused, bridge))
        d.addErrback(lambda f: log.failure("login handling failed", f))

    def _login_accepted(self, bridge: StompBridge, user: str | None) -> None:
        self._checking.discard(bridge)
        if bridge.stomp.state is StompState.LOGGING_IN:
            bridge.stomp.accept_login(user)
            self._after_login(bridge)

    def _login_refused(self, bridge: StompBridge, failure: Failure) -> None:
        self._checking.discard(bridge)
        stomp = bridge.stomp
        if stomp.state is not StompState.LOGGING_IN:
            return
        stomp.refuse_login(*refusal(failure))
        self._after_login(bridge)

    def _after_login(self, bridge: StompBridge) -> None:
        if self._depth:  # a verdict given at once, inside our own call: it pumps next
            return
        self._service(bridge)
        self._flush()
        self._arm()

    # --- the one timer ------------------------------------------------------------------------

    def _arm(self) -> None:
        deadline = self.store.next_deadline()
        timer = self._timer
        if deadline is None:
            if timer is not None and timer.active():
                timer.cancel()
            self._timer = None
            return
        if timer is not None and timer.active():
            if timer.getTime() <= deadline:
                return
            timer.reset(max(0.0, deadline - self.clock()))
            return
        self._timer = self.reactor.callLater(max(0.0, deadline - self.clock()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._depth += 1
        try:
            self.store.tick(self.clock())
        finally:
            self._depth -= 1
        self._flush()
        self._arm()

    def shutdown(self, reason: str = "server shutting down") -> None:
        """End every session's STOMP session with an ERROR saying `reason`."""
        for session in self.store:
            if isinstance(session.app, StompBridge):
                session.app.shutdown(reason)


def _number(request: CometRequest, name: bytes, default: Any = ...) -> Any:
    values = request.args.get(name)
    if not values:
        if default is ...:
            raise BadRequest(f"The parameter {name.decode()} is missing: give it as "
                             f"?{name.decode()}=N, a count of bytes.")
        return default
    value = values[0]
    if not _NUMBER.fullmatch(value):
        shown = value[:40].decode("latin-1")
        raise BadRequest(f"The parameter {name.decode()}={shown!r} is not a number: "
                         "give a decimal count, 0 or more.")
    return int(value)
