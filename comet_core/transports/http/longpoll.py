"""Long-polling: one request held until there is data (or the hold time passes), answered
once, and the client asks again with its new ack.

A `PollWaiter` is the `comet_core.comet.Waiter` of one held GET. Every way it ends is one
complete response written at once: the data record (and the ``c`` record when the session
is over), an empty body after the hold time or when a newer request took over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from comet_core.comet import REPLACED
from comet_core.transports.http import wire
from comet_core.transports.http.request import CometChannel

if TYPE_CHECKING:
    from comet_core.transports.http.request import CometRequest


class PollWaiter:
    """One held long-poll request."""

    __slots__ = ("request", "done", "lost", "transport", "head", "lazy")

    def __init__(self, request: CometRequest, cors: bytes) -> None:
        self.request = request
        #: Called by the request when its connection is lost (set by the resource).
        self.lost: Callable[[], None] | None = None
        self.done = False
        # What the answer needs of the connection, taken now: when a message answers
        # thousands of held polls, each connection left untouched is time saved.
        channel = request.channel
        self.transport = channel.transport
        self.head = wire.records_head(cors, channel.persistent)
        self.lazy = False

    def held(self) -> None:
        """The request is held (not answered while it was read): on a connection that
        stays open, its answer may leave the bookkeeping for later (`CometChannel.answered`)."""
        request = self.request
        channel = request.channel
        # Nothing that would need Twisted's own finish (checked now, not in the fan-out).
        self.lazy = (isinstance(channel, CometChannel) and channel.persistent
                     and not (request.queued or request.producer is not None
                              or request.notifications or request._encoder is not None
                              or request.content is not None))

    def _answer(self, body: bytes) -> None:
        if self.done:
            return
        self.done = True
        self.request.comet_waiter = None
        self.lost = None
        wire.answer_poll(self.request, self.transport, self.head, body, self.lazy)

    def send(self, offset: int, data: bytes, closed: str | None) -> bool:
        # `_answer` and `wire.data_record` inline: this is the hot path of a fan-out.
        if self.done:
            return False
        self.done = True
        request = self.request
        request.comet_waiter = None
        self.lost = None
        body = b"d %d %d\n%s\n" % (offset, len(data), data) if data else b""
        if closed is not None:
            body += wire.closed_record(closed)
        wire.answer_poll(request, self.transport, self.head, body, self.lazy)
        return False

    def idle(self, now: float) -> float | None:
        self._answer(b"")
        return None

    def finish(self, reason: str) -> None:
        self._answer(b"" if reason == REPLACED else wire.closed_record(reason))
