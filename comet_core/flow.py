"""Flow control: where a publisher waits while a consumer or a queue catches up.

A `Gate` belongs to something that can fall behind (a session's outbound buffer, a queue);
the hub puts a publisher at it when a SEND finds congestion, and the owner opens it once
its backlog has drained. The publisher (a session) stops reading frames meanwhile, which
pushes back through TCP to the client that sends too fast. Separate from `comet_core.hub`
so that sessions can use it without importing the hub.
"""

from __future__ import annotations

from typing import Protocol


class Publisher(Protocol):
    """What a gate needs from a waiting publisher (a session)."""

    def wait_at(self, gate: Gate) -> None: ...
    def gate_opened(self, gate: Gate) -> None: ...


class Gate:
    """A place where publishers wait while a consumer or a queue catches up.

    `hold` is called by the hub when a publisher's SEND found congestion; `open` by the
    owner when the backlog has drained. A publisher waits at most its flow timeout; when
    it gives up, the gate `expire`s: every publisher goes on, and none waits there again
    until the owner has drained (`open`), so a stuck consumer stalls its publishers once,
    not once per message, and then meets the hard bounds. (A topic subscriber's gate
    seldom gets that far: a subscriber that stays behind is disconnected sooner, which
    opens its gate.) The waiter sets are emptied on open and expiry, so no reference
    cycle outlives a congestion episode.
    """

    __slots__ = ("waiters", "expired", "topic")

    def __init__(self, *, topic: bool = False) -> None:
        self.waiters: set[Publisher] | None = None
        self.expired = False
        #: A topic subscriber's gate, where a publisher waits only briefly and seldom
        #: (`SessionLimits.slow_consumer_timeout`); a queue's gate is not one.
        self.topic = topic

    @property
    def armed(self) -> bool:
        """Whether the owner should call `open` once it has drained."""
        return bool(self.waiters) or self.expired

    def hold(self, publisher: Publisher) -> None:
        if self.expired:
            return
        waiters = self.waiters
        if waiters is None:
            waiters = self.waiters = set()
        if publisher not in waiters:
            waiters.add(publisher)
            publisher.wait_at(self)

    def leave(self, publisher: Publisher) -> None:
        if self.waiters:
            self.waiters.discard(publisher)

    def open(self) -> None:
        self.expired = False
        self._release()

    def expire(self) -> None:
        self.expired = True
        self._release()

    def _release(self) -> None:
        waiters, self.waiters = self.waiters, None
        for publisher in waiters or ():
            publisher.gate_opened(self)
