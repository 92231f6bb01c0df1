"""The site's request class: a bounded body, a lost connection reported, no access log
line for comet requests.

twisted.web reads a whole request body before the resource sees the request, into memory
or a temporary file, however large it says it is. `CometRequest` refuses a body past
``site.max_body`` as soon as it knows: at the headers when ``Content-Length`` says so, or
while it arrives when it is chunked. The refusal is a 413 with a message, and the
connection is closed (the rest of the body is not read).

It also tells its comet waiter when the connection is lost, so the session stops using a
dead request (cheaper than a Deferred from ``notifyFinish`` per held request).
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from twisted.web.server import Request, Site

#: The default bound of a request body (the comet upload bound, and some room).
MAX_BODY = (1 << 20) + (64 << 10)


class CometRequest(Request):
    """A `Request` with a bounded body; see the module docstring."""

    #: The waiter this request carries (set by the comet resource), told of a lost connection.
    comet_waiter: Any = None
    #: No access-log line (set for comet requests: at thousands per second it is the log
    #: that costs, not the request).
    quiet = False
    _refused = False
    _body_size = 0

    def _limit(self) -> int:
        return getattr(self.channel.site, "max_body", MAX_BODY)

    def gotLength(self, length: int | None) -> None:  # noqa: N802 (Twisted's name)
        if length is not None and length > self._limit():
            self._refuse(length)
        self.content = BytesIO()  # bounded below, so never a temporary file

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802
        if self._refused:
            return
        self._body_size += len(data)
        if self._body_size > self._limit():
            self._refuse(None)
            return
        self.content.write(data)

    def _refuse(self, length: int | None) -> None:
        self._refused = True
        said = f"{length} bytes" if length is not None else "more"
        body = (f"A request body may carry at most {self._limit()} bytes; this one has "
                f"{said}. Send it in parts.\n").encode()
        # Don't invite the body with "100 Continue": the answer is already known.
        self.requestHeaders.removeHeader(b"expect")
        transport = self.channel.transport
        transport.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; "
                        b"charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                        % (len(body), body))
        transport.loseConnection()

    def process(self) -> None:
        if self._refused:
            return  # answered already; the connection is closing
        super().process()

    def connectionLost(self, reason: Any) -> None:  # noqa: N802
        super().connectionLost(reason)
        waiter = self.comet_waiter
        if waiter is not None:
            self.comet_waiter = None
            if waiter.lost is not None:
                waiter.lost()


class CometSite(Site):
    """A `Site` making `CometRequest`s, with ``max_body`` and a quiet log for comet."""

    requestFactory = CometRequest

    def __init__(self, resource: Any, *, max_body: int = MAX_BODY, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.max_body = max_body
        self.displayTracebacks = False  # never show a traceback to a client

    def log(self, request: Request) -> None:
        if not getattr(request, "quiet", False):
            super().log(request)
