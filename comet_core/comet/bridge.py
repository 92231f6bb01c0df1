"""A STOMP session carried by a comet session: how a browser speaks STOMP over HTTP.

`StompBridge` owns one `CometSession` and one STOMP `ServerSession` (the same class the
TCP transport uses) and moves bytes between them, doing for the STOMP session what
`comet_core.transports.tcp` does for it over a socket:

- Upstream bytes the comet session applied (each once, in order) go to
  `ServerSession.receive_data`; the STOMP session cannot tell them from a TCP stream.
- The STOMP session's output goes into the comet session's downstream while it is
  `writable`. When it is not (the client has ``max_unacked`` bytes to acknowledge), the
  output stays in the STOMP session, whose slow-consumer policy applies as over TCP:
  queues pause, and topic publishers wait, but for ``slow_consumer_timeout`` at most:
  a browser that has not caught up by then (or at once, past ``outbound_hard``) has its
  session ended with ERROR "slow consumer", so a browser that stops reading cannot hold
  up a chat room for longer. The ack that makes room calls `resume_writing`.
- Closing goes both ways, with a reason the client can read. When the STOMP session
  closes (DISCONNECT, an ERROR), its last bytes, often the ERROR frame, become the comet
  session's last bytes, and ``close_reason`` the reason sent after them. When the comet
  session ends first (its client went silent, or closed it), the STOMP session gets
  `connection_lost`: its subscriptions end and its unacknowledged queue messages go to
  other subscribers.
- The STOMP timers (heart-beats, connect, flow-control and slow-consumer timeouts) run
  on the store's clock through the comet session's `next_deadline` and `tick`.

Wakeups: a message from another session reaches this STOMP session in the middle of that
session's work, so the bridge does not move bytes then; it calls `on_wakeup`, and the
transport calls `pump` soon after (the TCP adapter's batching, again). Bytes uploaded and
timers are pumped at once. One exception, the hot path of a fan-out: a topic message for
a STOMP session with nothing else to send is written into the comet session at once
(`_carry`) when the transport says it can take that write now (`can_carry`; the HTTP
transport can inside its batches, where the answers it writes wait for the batch's end).
"""

from __future__ import annotations

from collections.abc import Callable

from comet_core.comet.sessions import CometSession, State
from comet_core.hub import Hub
from comet_core.stomp.session import ServerSession, SessionLimits
from comet_core.stomp.session import State as StompState

_STOMP_CLOSED = StompState.CLOSED


class StompBridge:
    """One STOMP session over one comet session (it becomes the session's `app`).

    The transport's side: set `on_wakeup` and call `pump` when it fires; handle
    ``stomp.login_request`` as the TCP adapter does when ``defer_login`` is set; log
    ``stomp.failure`` when set; and, while `reading_paused`, it may hold back its answer
    to uploads, slowing the client down as a paused TCP socket would.
    """

    __slots__ = ("session", "stomp", "on_wakeup", "can_carry", "_clock", "_busy")

    def __init__(self, session: CometSession, hub: Hub, *, clock: Callable[[], float],
                 limits: SessionLimits | None = None, defer_login: bool = False) -> None:
        """`clock` is the transport's (the store's times must come from it too)."""
        self.session = session
        # The STOMP session draws its own id for CONNECTED and the logs: the comet id
        # is a secret and stays out of both.
        self.stomp = ServerSession(hub, limits=limits, clock=clock, defer_login=defer_login)
        #: Called when the STOMP session has something to move: the transport should
        #: call `pump` soon (not from inside the callback).
        self.on_wakeup: Callable[[], None] | None = None
        #: Set by a transport that can take a write in the middle of another session's
        #: work at some moments: says whether now is one (see `_carry`).
        self.can_carry: Callable[[], bool] | None = None
        self._clock = clock
        self._busy = False  # inside our own call: a wakeup is handled before we return
        self.stomp.on_wakeup = self._stomp_woke
        self.stomp.carry = self._carry
        session.app = self
        session.reschedule()

    @property
    def reading_paused(self) -> bool:
        """True while the STOMP session does not handle frames (login check, flow control)."""
        return self.stomp.reading_paused

    def pump(self) -> None:
        """Move the STOMP session's output into the comet session, as far as it may, and
        close the comet session if the STOMP session has closed."""
        session, stomp = self.session, self.stomp
        if session.state is not State.OPEN:
            return
        self._busy = True
        try:
            stomp.resume()  # it does nothing while reading is paused
            # A drained STOMP buffer may refill at once (a queue that skipped us sends
            # more), hence the loop; it ends when the buffer or the session's room does.
            if stomp.pending_output and stomp.state is not _STOMP_CLOSED and session.writable:
                now = self._clock()
                while True:
                    session.write(stomp.data_to_send(), now)
                    if not (stomp.pending_output and stomp.state is not _STOMP_CLOSED
                            and session.writable):
                        break
            if stomp.state is _STOMP_CLOSED:
                session.close(stomp.close_reason or "closed", self._clock(),
                              stomp.data_to_send())
        finally:
            self._busy = False
        if session.state is State.OPEN:
            session.app_deadline(stomp.next_deadline())

    def shutdown(self, reason: str = "server shutting down") -> None:
        """End the STOMP session with an ERROR saying `reason`; it reaches the client
        as the comet session's last bytes."""
        self.stomp.shutdown(reason)
        self.pump()

    # --- SessionApp: called by the comet session -----------------------------------------

    def data_received(self, data: bytes) -> None:
        self._busy = True
        try:
            self.stomp.receive_data(data)
        finally:
            self._busy = False
        self.pump()

    def resume_writing(self) -> None:
        self._stomp_woke()

    def session_closed(self, reason: str) -> None:
        # On a STOMP session that closed first, this only drops its callback.
        self.stomp.connection_lost(reason)

    def next_deadline(self) -> float | None:
        return self.stomp.next_deadline()

    def tick(self, now: float) -> None:
        self._busy = True
        try:
            self.stomp.tick(now)
        finally:
            self._busy = False
        self.pump()

    # --- internals ----------------------------------------------------------------------

    def _carry(self, frame: bytes) -> bool:
        """The STOMP session's `carry`: a MESSAGE frame goes into the comet session at
        once, when the transport says it can take the write now (a fan-out to thousands
        of clients then skips the wakeup and the `pump` of each)."""
        can_carry = self.can_carry
        if self._busy or can_carry is None or not can_carry():
            return False
        return self.session.offer(frame, self._clock())

    def _stomp_woke(self) -> None:
        if self._busy or self.session.state is not State.OPEN:
            return
        if self.on_wakeup is not None:
            self.on_wakeup()
