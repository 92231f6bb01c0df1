"""The site's request and connection classes: a bounded body, a lost connection reported,
no access log line for comet requests, one sweep for every connection's idle timeout.

twisted.web reads a whole request body before the resource sees the request, into memory
or a temporary file, however large it says it is. `CometRequest` refuses a body past
``site.max_body`` as soon as it knows: at the headers when ``Content-Length`` says so, or
while it arrives when it is chunked. The refusal is a 413 with a message, and the
connection is closed (the rest of the body is not read).

`CometSite` keeps the idle timeout of all its connections with one sweep
(`CometChannel`) rather than a timer per connection, made anew after each request.

`CometRequest` also tells its comet waiter when the connection is lost, so the session
stops using a dead request (cheaper than a Deferred from ``notifyFinish`` per held request).

A held request is most of a held session's memory, and once it is routed most of what it
carries is spent: its headers, query arguments, body, addresses and paths. `slim` drops
those from a request the server holds, leaving what answering it and Twisted's connection
bookkeeping use (the channel, the flags, the notifications); the dropped names read as
empty, read-only class defaults, so nothing that looks at them later breaks.
"""

from __future__ import annotations

from io import BytesIO
from types import MappingProxyType
from typing import Any
from weakref import WeakSet

from twisted.internet.task import LoopingCall
from twisted.web.http import HTTPChannel
from twisted.web.http_headers import Headers
from twisted.web.server import Request, Site

from comet_core.transports.sending import later

#: The default bound of a request body (the comet upload bound, and some room).
MAX_BODY = (1 << 20) + (64 << 10)


class _SpentHeaders(Headers):
    """The headers of a slimmed request: empty, and refusing any change."""

    def _spent(self, *args: Any) -> None:
        raise RuntimeError("this held comet request's headers were dropped (slim)")

    setRawHeaders = addRawHeader = removeHeader = _spent  # noqa: N815 (Twisted's names)


_SPENT_HEADERS = _SpentHeaders()
_EMPTY: MappingProxyType[bytes, list[bytes]] = MappingProxyType({})
#: What `slim` drops from a held request (its class defaults below stand in for them).
_SPENT = ("requestHeaders", "responseHeaders", "args", "received_cookies", "cookies",
          "client", "host", "_adapterCache", "prepath", "postpath", "sitepath", "path")


class CometRequest(Request):
    """A `Request` with a bounded body; see the module docstring."""

    # What a slimmed request reads instead of what it dropped.
    requestHeaders = responseHeaders = _SPENT_HEADERS  # noqa: N815 (Twisted's names)
    args = received_cookies = _EMPTY
    cookies: Any = ()
    client = host = None
    prepath = postpath = sitepath = ()
    path = b""

    #: The waiter this request carries (set by the comet resource), told of a lost connection.
    comet_waiter: Any = None
    #: No access-log line (set for comet requests: at thousands per second it is the log
    #: that costs, not the request).
    quiet = False
    _refused = False
    _body_size = 0

    def slim(self) -> None:
        """Drop what a routed request no longer needs, before it is held (see above).

        A ``Connection: close`` that Twisted put in the response headers is kept: the
        answer written later reads it.
        """
        if self.finished or self._disconnected:
            return
        state = self.__dict__
        keep_response = self.responseHeaders.hasHeader(b"connection")
        content = state.get("content")
        if content is not None:
            content.close()
        state["content"] = None
        # A new dict of the rest: deleting keys never shrinks a dict's table.
        self.__dict__ = {key: value for key, value in state.items()
                         if key not in _SPENT or (keep_response and key == "responseHeaders")}

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


class CometChannel(HTTPChannel):
    """A connection whose idle timeout is kept by its site's sweep, not by a timer of its own.

    Twisted's `HTTPChannel` gives each connection a timer, cancelled when a request starts
    and made anew when it ends. When one message answers thousands of held requests, making
    those thousands of timers costs more than writing the answers. Here a connection only
    notes since when it is idle (no request under way, no bytes since), and `CometSite`
    closes, a few times per timeout, those idle for longer than the timeout.
    """

    factory: CometSite
    #: Reactor seconds since which nothing happened here; None while a request is handled
    #: (or answered with its bookkeeping waiting, until the site's sweep notices).
    idle_since: float | None = None
    _reading = False  # inside dataReceived

    def answered(self, request: Request) -> None:
        """`request`, the one under way, has its whole response (written by `wire`).

        Twisted's bookkeeping of a request's end (``requestDone``: ready for the next one)
        waits until the connection's next bytes come (`dataReceived` does it first), or its
        end. When one message answers thousands of held requests, that keeps the
        bookkeeping of each out of the moment everyone waits for, and for a client that
        asks again at once it costs the same. Not on a connection that ends after this
        response, nor when the next request's bytes may be here already (buffered, or in
        the bytes being read: a request answered while it is read).
        """
        if self.persistent and not self._reading and not self._dataBuffer:
            self.idle_since = self.factory.reactor.seconds()
        elif not later(self._request_done, request):  # in a batch: once its bytes left
            self._request_done(request)

    def _request_done(self, request: Request) -> None:
        if request._disconnected:
            return  # the connection was lost meanwhile: nothing left to do
        self.requestDone(request)
        del request.channel  # no cycle between a finished request and its connection

    def _answered_waiting(self) -> Request | None:
        """The request answered whole whose bookkeeping waits, if any."""
        requests = self.requests
        if self._handlingRequest and requests and requests[0].finished:
            return requests[0]
        return None

    def connectionMade(self) -> None:  # noqa: N802 (Twisted's names, here and below)
        super().connectionMade()
        self.idle_since = self.factory.reactor.seconds()
        self.factory.channels.add(self)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self._handlingRequest:
            answered = self._answered_waiting()
            if answered is not None:
                self._request_done(answered)
            else:  # a request is under way: these bytes are the next one's
                PIPELINED.add(self)
        if self.idle_since is not None:
            self.idle_since = self.factory.reactor.seconds()
        self._reading = True
        try:
            super().dataReceived(data)
        finally:
            self._reading = False

    def allContentReceived(self) -> None:  # noqa: N802
        self.idle_since = None
        super().allContentReceived()

    def requestDone(self, request: Request) -> None:  # noqa: N802
        PIPELINED.discard(self)  # what was buffered is read now (whoever finished the request)
        super().requestDone(request)
        if not self._handlingRequest:  # a pipelined request may have started meanwhile
            self.idle_since = self.factory.reactor.seconds()

    def connectionLost(self, reason: Any) -> None:  # noqa: N802
        self.factory.channels.discard(self)
        PIPELINED.discard(self)
        super().connectionLost(reason)


#: Connections that received bytes while a request was under way (a pipelined request),
#: until that request is done: what `_dataBuffer` says, in a set, so that a fan-out can
#: ask about thousands of connections without touching them (`wire.answer_poll`).
PIPELINED: set[CometChannel] = set()


class CometSite(Site):
    """A `Site` making `CometRequest`s, with ``max_body``, a quiet log for comet, and one
    sweep for the idle timeout of all its connections (`CometChannel`).

    `timeout`: seconds a connection may stay idle (no request under way, nothing received)
    before it is closed; None for never. It is enforced within a quarter of itself.
    """

    requestFactory = CometRequest
    protocol = CometChannel

    def __init__(self, resource: Any, *, max_body: int = MAX_BODY,
                 timeout: float | None = 60.0, **kwargs: Any) -> None:
        super().__init__(resource, timeout=None, **kwargs)  # no timer per connection
        self.max_body = max_body
        self.idle_timeout = timeout
        self.displayTracebacks = False  # never show a traceback to a client
        # Weak: a connection upgraded to a WebSocket no longer tells us when it ends.
        self.channels: WeakSet[CometChannel] = WeakSet()
        self._sweep: LoopingCall | None = None

    def startFactory(self) -> None:  # noqa: N802 (Twisted's names)
        super().startFactory()
        if self.idle_timeout is not None and self._sweep is None:
            self._sweep = LoopingCall(self.close_idle)
            self._sweep.clock = self.reactor
            self._sweep.start(max(0.05, self.idle_timeout / 4), now=False)

    def stopFactory(self) -> None:  # noqa: N802
        if self._sweep is not None:
            self._sweep.stop()
            self._sweep = None
        super().stopFactory()

    def close_idle(self) -> int:
        """Close the connections idle for longer than the timeout; how many there were."""
        if self.idle_timeout is None:
            return 0
        now = self.reactor.seconds()
        deadline = now - self.idle_timeout
        idle = []
        for channel in self.channels:
            since = channel.idle_since
            if since is None:
                if channel._answered_waiting() is not None:
                    channel.idle_since = now  # answered since the last sweep: idle from now
            elif since < deadline:
                idle.append(channel)
        for channel in idle:
            channel.idle_since = None  # closing: once is enough
            channel.timeoutConnection()  # Twisted's: close, abort if that takes too long
        return len(idle)

    def log(self, request: Request) -> None:
        if not getattr(request, "quiet", False):
            super().log(request)
