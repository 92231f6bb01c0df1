"""The sessions of one server: open, look up, bound, and expire them on one clock.

A `SessionStore` is sans-IO like the sessions it holds: it reads no clock and sets no
timer. The transport asks `next_deadline` and calls `tick` then, with one timer for the
whole store rather than one per session or per held request, which matters with tens of
thousands of idle clients.

The timers are a heap of ``(deadline, n, session)`` entries, one live entry per session.
A deadline that moves later (the usual case: each request pushes the idle timeout back)
changes nothing in the heap; when the old entry comes up, the session is simply queued
again at its new deadline. Only a deadline that comes sooner adds an entry, and the entry
it replaces is skipped when it comes up.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator

from comet_core.comet.errors import TooManySessions, UnknownSession
from comet_core.comet.ids import new_session_id
from comet_core.comet.sessions import CometLimits, CometSession, State


class TooManyFromAddress(TooManySessions):
    """One client address holds ``CometLimits.max_sessions_per_address`` sessions already."""

    status_hint = 429


class SessionStore:
    """Every comet session of one server, by id."""

    def __init__(self, limits: CometLimits | None = None) -> None:
        self.limits = limits or CometLimits()
        self._sessions: dict[str, CometSession] = {}
        #: The client each session was opened by (when the transport said), and how
        #: many sessions each client holds.
        self._client_of: dict[str, str] = {}
        self._per_client: dict[str, int] = {}
        self._timers: list[tuple[float, int, CometSession]] = []
        self._serial = itertools.count()

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def __iter__(self) -> Iterator[CometSession]:
        """The sessions (a snapshot: ending one while iterating is fine)."""
        return iter(list(self._sessions.values()))

    def open(self, now: float, client: str | None = None) -> CometSession:
        """A new session with a fresh random id, for `client` (a key for the client's
        address, None when unknown). Raises `TooManySessions` at the bound, and
        `TooManyFromAddress` at the bound per client."""
        if len(self._sessions) >= self.limits.max_sessions:
            raise TooManySessions(
                f"The server already holds {self.limits.max_sessions} sessions, its "
                "maximum; try again later.")
        per_client = self.limits.max_sessions_per_address
        if client is not None and per_client > 0 and self.held_by(client) >= per_client:
            raise TooManyFromAddress(
                f"Too many sessions from your address: it holds {per_client}, the most one "
                "address may; close some (or let them expire) and try again.")
        session_id = new_session_id()
        while session_id in self._sessions:  # 144 random bits: never, but cheap to be sure
            session_id = new_session_id()
        session = CometSession(session_id, now, self.limits, self)
        self._sessions[session_id] = session
        if client is not None:
            self._client_of[session_id] = client
            self._per_client[client] = self._per_client.get(client, 0) + 1
        self._schedule(session)
        return session

    def client_of(self, session_id: str) -> str | None:
        """The client key `session_id` was opened for (None when unknown)."""
        return self._client_of.get(session_id)

    def held_by(self, client: str) -> int:
        """How many sessions `client` holds."""
        return self._per_client.get(client, 0)

    def get(self, session_id: str) -> CometSession:
        """The session with this id. Raises `UnknownSession` (the same for an id that
        never existed and one that ended: the answer reveals nothing)."""
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSession("There is no session with this id: it expired, was "
                                 "closed, or never existed. Open a new one.")
        return session

    def close(self, session_id: str, reason: str = "the client closed the session") -> None:
        """End a session at once (the client's own "close"); `UnknownSession` if none."""
        self.get(session_id).terminate(reason)

    def next_deadline(self) -> float | None:
        """When `tick` must next be called, or None while no session has a deadline."""
        timers = self._timers
        while timers:
            at, _, session = timers[0]
            if session._queued_at == at and session.state is not State.CLOSED:
                return at
            heapq.heappop(timers)  # superseded or ended: drop it
        return None

    def tick(self, now: float) -> None:
        """Run every session whose deadline has come (expiry, held requests, app timers).

        Each due session is ticked once per call, so a deadline that stays in the past
        cannot make this loop forever; `next_deadline` then says to call again.
        """
        timers = self._timers
        due: list[CometSession] = []
        while timers and timers[0][0] <= now:
            at, _, session = heapq.heappop(timers)
            if session._queued_at != at or session.state is State.CLOSED:
                continue
            session._queued_at = None
            due.append(session)
        for session in due:
            session.tick(now)
            self._schedule(session)

    # --- called by the sessions -------------------------------------------------------

    def _schedule(self, session: CometSession) -> None:
        """Make sure the heap has an entry for `session` no later than its deadline."""
        if session.state is State.CLOSED:
            return
        deadline = session.next_deadline()
        if deadline is None:
            return
        queued = session._queued_at
        if queued is not None and queued <= deadline:
            return
        session._queued_at = deadline
        heapq.heappush(self._timers, (deadline, next(self._serial), session))

    def _remove(self, session: CometSession) -> None:
        session_id = session.session_id
        if self._sessions.get(session_id) is session:
            del self._sessions[session_id]
            client = self._client_of.pop(session_id, None)
            if client is not None:
                left = self._per_client[client] - 1
                if left:
                    self._per_client[client] = left
                else:
                    del self._per_client[client]
        session._queued_at = None
