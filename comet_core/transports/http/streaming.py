"""XHR streaming: one chunked response carrying many records, recycled at a size.

An XHR sees the response as one growing byte string, so each piece of data goes as a
self-delimiting record (``d O L``, see `comet_core.transports.http`); a lone LF every
``keepalive`` seconds keeps proxies and the client's own watchdog from taking an idle
stream for a dead one. Because the browser keeps the whole body in ``responseText``, the
server ends the stream (an ``e`` record) once about ``recycle`` bytes of data went out,
and the client opens the next one with its new ack; nothing is lost between the two,
since the session keeps every byte until an ack says the client has it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from comet_core.comet import REPLACED
from comet_core.transports.http import wire

if TYPE_CHECKING:
    from comet_core.transports.http.request import CometRequest

RECYCLED = "recycled: open the next stream"


class StreamWaiter:
    """One open XHR stream."""

    __slots__ = ("stream", "recycle", "keepalive", "sent", "done", "lost")

    content_type = wire.RECORDS
    #: A keep-alive first: the client sees at once that bytes get through (a proxy that
    #: buffers responses would hold it back, and the client falls back to polling).
    first = wire.KEEPALIVE_RECORD

    def __init__(self, request: CometRequest, cors: bytes, recycle: int,
                 keepalive: float) -> None:
        self.recycle = recycle
        self.keepalive = keepalive
        self.sent = 0
        self.done = False
        #: Called by the request when its connection is lost (set by the resource).
        self.lost: Callable[[], None] | None = None
        self.stream = wire.Stream(request, self.content_type, cors, self.first)

    # The encoding; the SSE waiter overrides these.
    def encode(self, offset: int, data: bytes) -> bytes:
        return wire.data_record(offset, data)

    def closing(self, reason: str) -> bytes:
        return wire.closed_record(reason)

    def ending(self, reason: str) -> bytes:
        return wire.end_record(reason)

    ping = wire.KEEPALIVE_RECORD

    def _end(self, tail: bytes) -> None:
        if self.done:
            return
        self.done = True
        self.stream.request.comet_waiter = None
        self.lost = None
        self.stream.end(tail)

    def send(self, offset: int, data: bytes, closed: str | None) -> bool:
        if self.done:
            return False
        body = self.encode(offset, data) if data else b""
        if closed is not None:
            self._end(body + self.closing(closed))
            return False
        self.sent += len(data)
        if self.sent >= self.recycle:
            self._end(body + self.ending(RECYCLED))
            return False
        self.stream.write(body)
        return True

    def idle(self, now: float) -> float | None:
        if self.done:
            return None
        self.stream.write(self.ping)
        return self.keepalive

    def finish(self, reason: str) -> None:
        self._end(self.ending(reason) if reason == REPLACED else self.closing(reason))
