"""Server-Sent Events: the stream the browser's own ``EventSource`` reads and resumes.

The same waiter as XHR streaming with another encoding (`wire.sse_event`): each piece of
data is one event whose ``id`` is the offset after it, so the browser's ``lastEventId``
*is* the client's ack, and its automatic reconnect (``Last-Event-ID``) resumes exactly
where the data stopped. Recycling simply ends the response: the browser reconnects by
itself. A stream replaced by a newer request says so (``event: end``) so that the page
closes it rather than reconnect and take the session back.
"""

from __future__ import annotations

from comet_core.transports.http import wire
from comet_core.transports.http.streaming import RECYCLED, StreamWaiter


class SSEWaiter(StreamWaiter):
    """One open ``text/event-stream`` response."""

    __slots__ = ()

    content_type = wire.EVENTS
    first = wire.SSE_FIRST
    ping = wire.SSE_KEEPALIVE

    def encode(self, offset: int, data: bytes) -> bytes:
        return wire.sse_event(offset, data)

    def closing(self, reason: str) -> bytes:
        return wire.sse_named(b"close", reason)

    def ending(self, reason: str) -> bytes:
        return b"" if reason == RECYCLED else wire.sse_named(b"end", reason)
