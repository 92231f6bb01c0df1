"""One comet session: two numbered byte streams, the request carrying them now, and time.

A `CometSession` is what stays the same while a browser's requests come and go. It is
sans-IO: the HTTP transports hand it requests (`attach`, `receive`) and the time
(`tick`), and it calls back two objects they supply:

- the `Waiter`: whatever carries bytes down to the client at the moment (a held
  long-poll request, an XHR stream, an SSE stream, later a WebSocket). At most one at a
  time: a new request takes over and the old one is told to finish, so a client may
  switch from one transport to another in the middle of a session.
- the `SessionApp`: what the session carries, at the other end of both streams (a STOMP
  session, through `comet_core.comet.bridge.StompBridge`). It gets the client's bytes,
  once each and in order, and writes bytes for the client.

Nothing is lost between requests because nothing is forgotten until the client says it
has it: every downstream byte stays in the session until a later request acknowledges it
(see `comet_core.comet` for the numbers on the wire), and each new waiter starts with
everything not acknowledged. A response lost on its way costs a resend, never a byte.

Bounds, and what happens at each:

- Unacknowledged downstream bytes: at ``max_unacked`` the session stops being
  `writable`; the app stops writing (a write anyway raises `BufferFull`, it is never
  dropped) and is told `resume_writing` when an ack makes room. The bound is checked
  before each write, so the bytes kept stay under ``max_unacked`` plus the app's largest
  write. The STOMP bridge writes what its STOMP session has buffered (at most its
  ``outbound_hard``), then leaves messages there, where the STOMP slow-consumer policy
  applies.
- One upload: at most ``max_upload`` bytes (`UploadTooLarge`).
- A held request: at most ``max_hold`` seconds without data, then the waiter's `idle`
  decides (a long-poll answers empty, a stream sends a keep-alive).
- A silent client: ``idle_timeout`` seconds with no request at all and none held open,
  and the session is ended (`terminate`).

The session's life: ``open`` -> ``closing`` (`close`: the server ended it; no more
uploads, and the last bytes and the reason still go to the client) -> ``closed``
(`terminate`: removed; by expiry, by the client's own close, or once a closing
session's last bytes are acknowledged).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from comet_core.comet.errors import BufferFull, SessionClosed, UploadTooLarge
from comet_core.comet.streams import Downstream, Upstream

if TYPE_CHECKING:
    from comet_core.comet.store import SessionStore

#: What a waiter is told when a newer request takes its place.
REPLACED = "replaced by a newer request"


class State(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_OPEN = State.OPEN


@dataclass(frozen=True, slots=True)
class CometLimits:
    """Every bound and timer of the comet layer; the defaults suit a small public server."""

    #: Sessions in one store (closing ones included): past it, `open` refuses.
    max_sessions: int = 20_000
    #: Sessions opened from one client address (the transport says who the client is) at
    #: most, so that one client cannot hold all of `max_sessions`; 0 for no bound. A
    #: classroom of 60 behind one NAT address, with three tabs each, holds 180.
    max_sessions_per_address: int = 256
    #: Seconds without any request (and none held open) after which a session ends.
    idle_timeout: float = 60.0
    #: Longest a request is held with nothing to send before its waiter's `idle` is
    #: called. Under common proxies' 60 s read timeout.
    max_hold: float = 30.0
    #: Downstream bytes kept for one client (sent or not) at which the session stops
    #: being writable (checked before each write: one write may go past it).
    max_unacked: int = 1 << 20
    #: Bytes in one upload: one STOMP frame at its default bound, and its headers.
    max_upload: int = (1 << 20) + (64 << 10)


class Waiter(Protocol):
    """Whatever carries a session's bytes down right now (one held request or stream).

    The transport implements it; the session calls it. Calls never come back into the
    session to detach: the return values say whether the waiter stays.
    """

    def send(self, offset: int, data: bytes, closed: str | None) -> bool:
        """Carry `data`, the downstream bytes from `offset` on, to the client.

        `closed` is None while the session lives. Otherwise the session is over: `data`
        holds its last bytes (possibly none), `closed` is the reason to show the client,
        and the waiter ends its response; the return value is then ignored.
        Return True to stay and carry more (a stream with room left), False when this
        response is complete (a long-poll answered; a stream reached its recycle size).
        """
        ...

    def idle(self, now: float) -> float | None:
        """The hold time passed with nothing to send.

        A long-poll answers with no data and returns None (it is done); a stream writes
        a keep-alive and returns the seconds until it wants the next call.
        """
        ...

    def finish(self, reason: str) -> None:
        """The session ends this waiter's turn: `REPLACED` by a newer request, or the
        session ended (`reason` says why). End the response; whatever it carried that
        the client did not acknowledge is sent again on its next request."""
        ...


class SessionApp(Protocol):
    """What a session carries: it reads the client's bytes and writes bytes for it.

    Shaped like an asyncio protocol. `next_deadline` and `tick` let the app's timers
    (STOMP heart-beats, say) run on the store's clock, so one timer serves every session.
    """

    def data_received(self, data: bytes) -> None:
        """New bytes from the client: each byte once, in the order the client wrote them."""
        ...

    def resume_writing(self) -> None:
        """The session is `writable` again (an ack made room): write what was held back."""
        ...

    def session_closed(self, reason: str) -> None:
        """The session stopped taking uploads (closing or closed); called once."""
        ...

    def next_deadline(self) -> float | None:
        """When the app's `tick` must next be called, or None."""
        ...

    def tick(self, now: float) -> None:
        """Time passed (called at or after `next_deadline`)."""
        ...


class CometSession:
    """One client's session; see the module docstring. Times are the caller's clock."""

    __slots__ = ("session_id", "limits", "state", "close_reason", "app", "_store", "_down",
                 "_up", "_waiter", "_hold_until", "_last_seen", "_queued_at")

    def __init__(self, session_id: str, now: float, limits: CometLimits | None = None,
                 store: SessionStore | None = None) -> None:
        self.session_id = session_id
        self.limits = limits or CometLimits()
        self.state = State.OPEN
        #: Why the session closed, for the client (None while open).
        self.close_reason: str | None = None
        #: The app this session carries; set it before the first upload.
        self.app: SessionApp | None = None
        self._store = store
        self._down = Downstream()
        self._up = Upstream()
        self._waiter: Waiter | None = None
        self._hold_until = 0.0  # when the waiter's `idle` is due
        self._last_seen = now   # when the client was last heard from (idle timer base)
        self._queued_at: float | None = None  # the store's timer entry for this session

    def __repr__(self) -> str:
        return (f"<CometSession {self.state.value} acked={self.acked} written={self.written}"
                f" applied={self.applied}>")

    # --- what transports and apps read ------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def waiter(self) -> Waiter | None:
        """The request carrying downstream bytes now, if any."""
        return self._waiter

    @property
    def acked(self) -> int:
        """Downstream bytes the client has acknowledged."""
        return self._down.acked

    @property
    def written(self) -> int:
        """Downstream bytes written so far (the offset of the next one)."""
        return self._down.end

    @property
    def unacked(self) -> int:
        """Downstream bytes kept for the client: written, not acknowledged."""
        return self._down.unacked

    @property
    def applied(self) -> int:
        """Upstream bytes applied so far: the offset the client's next new byte has."""
        return self._up.applied

    @property
    def writable(self) -> bool:
        """May the app write now? False once ``max_unacked`` bytes wait for an ack."""
        down = self._down
        return self.state is State.OPEN and down.end - down.acked < self.limits.max_unacked

    # --- downstream: requests that carry bytes to the client ------------------------------

    def attach(self, waiter: Waiter, ack: int, now: float, hold: float | None = None) -> None:
        """A request arrived to carry bytes down; the client holds the first `ack` bytes.

        The acknowledged bytes are forgotten; the previous waiter, if any, is `finish`ed
        (`REPLACED`); `waiter` is sent everything after `ack` at once, if there is
        anything, then every new write until it says it is done. With nothing to send,
        it is held: after `hold` seconds (at most, and by default, ``max_hold``) its
        `idle` is called. A closing session sends the rest and the reason instead.
        Raises `BadNumber` for an impossible ack, `SessionClosed` once closed.
        """
        self._refuse_if_closed()
        self._last_seen = now
        resumed = self._acknowledge(ack)
        old = self._waiter
        if old is not None:
            self._waiter = None
            old.finish(REPLACED)
        start, data = self._down.since(ack)
        if self.state is State.CLOSING:
            waiter.send(start, data, self.close_reason)
            if self._down.unacked == 0:  # the client had it all: this answer is the last
                self.terminate(self.close_reason or "closed")
            else:
                self._reschedule()
            return
        limit = self.limits.max_hold
        self._hold_until = now + (limit if hold is None else max(0.0, min(hold, limit)))
        self._waiter = waiter
        if data and not waiter.send(start, data, None) and self._waiter is waiter:
            self._waiter = None
        if resumed and self.app is not None:
            self.app.resume_writing()
        self._reschedule()

    def detach(self, waiter: Waiter, now: float) -> None:
        """The transport lost `waiter`'s request (the connection closed): stop using it.

        Transports must call this, or the session would wait on a dead request and never
        expire. A waiter that is not the current one (already replaced or done) is ignored.
        """
        if self._waiter is waiter:
            self._waiter = None
            self._last_seen = now
            self._reschedule()

    def acknowledge(self, ack: int) -> None:
        """The client holds the first `ack` bytes (for a request that carries no waiter)."""
        self._refuse_if_closed()
        if self._acknowledge(ack) and self.app is not None:
            self.app.resume_writing()

    def pending(self, ack: int) -> tuple[int, bytes]:
        """What a client holding the first `ack` bytes lacks: ``(offset, data)``.

        A request that answers at once (a plain poll) sends this. `offset` is above
        `ack` only when the client acknowledged more earlier; it drops the overlap.
        """
        return self._down.since(ack)

    def offer(self, data: bytes, now: float) -> bool:
        """`write` `data` if the session is open and `writable`; False (nothing written)
        otherwise. One check instead of two on the hot path of a fan-out."""
        down = self._down
        if self.state is not _OPEN or down.end - down.acked >= self.limits.max_unacked:
            return False
        self.write(data, now)
        return True

    def write(self, data: bytes, now: float) -> None:
        """The app's bytes for the client: numbered, kept until acknowledged, and sent
        at once when a waiter is attached. Call only while `writable` (else `BufferFull`:
        a write past the bound is refused, not dropped). Raises `SessionClosed` once the
        session no longer takes writes."""
        if self.state is not State.OPEN:
            raise SessionClosed(self._closed_message())
        down = self._down
        if down.end - down.acked >= self.limits.max_unacked:
            raise BufferFull(f"{down.unacked} bytes await the client's ack; wait for "
                             "resume_writing before writing more.")
        if not data:
            return
        offset = down.append(data)
        waiter = self._waiter
        if waiter is not None and not waiter.send(offset, data, None) \
                and self._waiter is waiter:
            self._waiter = None
            self._last_seen = now
            # The deadline moves from the hold's end to the idle timeout: later, when
            # the idle timeout is the longer, and the store's entry may stay (it finds
            # the later deadline when it comes up).
            if self.limits.idle_timeout < self.limits.max_hold:
                self._reschedule()

    # --- upstream: bytes from the client ------------------------------------------------

    def receive(self, offset: int, data: bytes, now: float) -> int:
        """An upload: `data` are the client's bytes from `offset` on.

        Bytes already applied are skipped and the rest go to the app, so a retried upload
        is applied once. Returns `applied`, the count to answer with (the client forgets
        its bytes below it). Raises `UploadTooLarge`, `UploadGap` (bytes missing before
        `offset`), `BadNumber` or `SessionClosed`; nothing is applied then.
        """
        if self.state is not State.OPEN:
            raise SessionClosed(self._closed_message())
        self._last_seen = now
        if len(data) > self.limits.max_upload:
            raise UploadTooLarge(f"An upload may carry at most {self.limits.max_upload} "
                                 f"bytes, this one has {len(data)}; send it in parts.")
        app = self.app
        if app is None:
            raise RuntimeError("the session has no app to give the client's bytes to")
        new = self._up.accept(offset, data)
        if new:
            app.data_received(new)
        self._reschedule()
        return self._up.applied

    # --- the end ----------------------------------------------------------------------

    def close(self, reason: str, now: float, last: bytes = b"") -> None:
        """The server ends the session: `last` (past the bound: it usually says why) is the
        final downstream data, and `reason` the text the client gets after it.

        Uploads are refused from now on. The session stays (``closing``) until the client
        has acknowledged every byte or stops asking (``idle_timeout``), so a lost
        response still costs no byte. A session not open is left as it is.
        """
        if self.state is not State.OPEN:
            return
        offset = self._down.append(last) if last else self._down.end
        self.state = State.CLOSING
        self.close_reason = reason
        self._last_seen = now
        waiter, self._waiter = self._waiter, None
        if self.app is not None:
            self.app.session_closed(reason)
        if waiter is not None:  # it has had everything before `last`
            waiter.send(offset, last, reason)
        self._reschedule()

    def terminate(self, reason: str) -> None:
        """End the session now and forget it: the client is gone, asked for it, or has
        everything. A held waiter is `finish`ed with `reason`; the app is told if it was
        not already."""
        state = self.state
        if state is State.CLOSED:
            return
        self.state = State.CLOSED
        if self.close_reason is None:
            self.close_reason = reason
        self._down.clear()
        store, self._store = self._store, None
        if store is not None:
            store._remove(self)
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.finish(reason)
        app, self.app = self.app, None  # no cycle session <-> app outlives the session
        if app is not None and state is State.OPEN:
            app.session_closed(reason)

    # --- time -------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When `tick` must next be called: the waiter's hold, the idle timeout, or the
        app's own deadline, whichever comes first. None once closed."""
        if self.state is State.CLOSED:
            return None
        if self._waiter is not None:
            own = self._hold_until
        else:
            own = self._last_seen + self.limits.idle_timeout
        app = self.app
        if app is not None and self.state is State.OPEN:
            theirs = app.next_deadline()
            if theirs is not None and theirs < own:
                return theirs
        return own

    def tick(self, now: float) -> None:
        """Let time pass: a held waiter's `idle`, the expiry of a silent client, the app's
        timers."""
        if self.state is State.CLOSED:
            return
        waiter = self._waiter
        if waiter is not None:
            if now >= self._hold_until:
                again = waiter.idle(now)
                if self._waiter is waiter:
                    if again is None:
                        self._waiter = None
                        self._last_seen = now
                    else:
                        self._hold_until = now + again
        elif now >= self._last_seen + self.limits.idle_timeout:
            self.terminate(f"expired: no request for {self.limits.idle_timeout:g} seconds")
            return
        app = self.app
        if app is not None and self.state is State.OPEN:
            deadline = app.next_deadline()
            if deadline is not None and now >= deadline:
                app.tick(now)
        self._reschedule()

    def reschedule(self) -> None:
        """Tell the store this session's deadline may have come sooner (apps call it when
        their own `next_deadline` moved)."""
        self._reschedule()

    def app_deadline(self, deadline: float | None) -> None:
        """The app's `next_deadline` is now `deadline`: tell the store if that may be
        sooner than the entry it has (cheaper than `reschedule` when it is not)."""
        queued = self._queued_at
        if queued is None or (deadline is not None and deadline < queued):
            self._reschedule()

    # --- internals ----------------------------------------------------------------------

    def _acknowledge(self, ack: int) -> bool:
        """Forget acknowledged bytes; True when that made the session writable again."""
        limit = self.limits.max_unacked
        was_full = self._down.unacked >= limit
        self._down.acknowledge(ack)
        return was_full and self.state is State.OPEN and self._down.unacked < limit

    def _reschedule(self) -> None:
        if self._store is not None:
            self._store._schedule(self)

    def _refuse_if_closed(self) -> None:
        if self.state is State.CLOSED:
            raise SessionClosed(self._closed_message())

    def _closed_message(self) -> str:
        return f"The session is {self.state.value}: {self.close_reason}."
