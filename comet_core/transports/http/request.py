"""The site's request and connection classes: a bounded body, a lost connection reported,
no access log line for comet requests, one sweep for every connection's idle timeout.

twisted.web reads a whole request body before the resource sees the request, into memory
or a temporary file, however large it says it is. `CometRequest` refuses a body past
``site.max_body`` as soon as it knows: at the headers when ``Content-Length`` says so, or
while it arrives when it is chunked. The refusal is a 413 with a message, and the
connection is closed (the rest of the body is not read).

`CometSite` keeps the idle timeout of all its connections with one sweep
(`CometChannel`) rather than a timer per connection, made anew after each request. The
same sweep keeps two deadlines against clients that send slowly on purpose to hold
connections ("slowloris"): a request's head must arrive whole within ``header_timeout``
of its first byte (the first request's, of the connection's start), and a body must keep
up a minimum rate (``body_timeout`` seconds, and one more per ``body_min_rate`` bytes
received). A late request is answered 408 and its connection closed. A request once
read (a held long-poll, a stream) is complete: these deadlines no longer apply to it.

Every request must name this server in its ``Host`` header (`hosts.HostPolicy`: 421 or
400 otherwise, before any resource sees it), the defence against DNS rebinding. A
request head past Twisted's bounds (a line or the whole head past 16 KiB, or more than
500 headers) is answered 431 before the connection closes, and any other malformed head
400 with a message.

The site also bounds its connections: in all (``max_connections``: by default the
process's open-file limit less a fiftieth kept for files, the broker and the rest), and per
client address (``max_connections_per_address``, grouped as `addresses.client_key` says;
connections from a trusted proxy are not bound per address, the proxy's own limits do
that). A connection past a bound is answered at once, 503 or 429 with a message saying
which bound, and closed.

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

from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import Protocol
from twisted.internet.task import LoopingCall
from twisted.web.http import HTTPChannel
from twisted.web.http_headers import Headers
from twisted.web.server import Request, Site

from comet_core.transports.http import addresses
from comet_core.transports.http.addresses import Counts, TrustedProxies
from comet_core.transports.http.hosts import HostPolicy, HostRefused
from comet_core.transports.sending import later

#: The default bound of a request body (the comet upload bound, and some room).
MAX_BODY = (1 << 20) + (64 << 10)
#: Seconds from a request's first byte to the end of its head, at most.
HEADER_TIMEOUT = 20.0
#: Seconds a request body may take, plus one per `BODY_MIN_RATE` bytes received.
BODY_TIMEOUT = 20.0
BODY_MIN_RATE = 500
#: Connections from one client address at most (a browser opens six per server, and a
#: WebSocket per tab: this leaves room for a classroom behind one NAT address).
MAX_CONNECTIONS_PER_ADDRESS = 512

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 413: b"Content Too Large",
            421: b"Misdirected Request", 429: b"Too Many Requests",
            431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


def refusal(status: int, message: str) -> bytes:
    """A complete response refusing a request: `status`, a one-line message, and
    ``Connection: close`` (the connection is closed after it)."""
    body = message.replace("\n", " ").encode("utf-8") + b"\n"
    return (b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (status, _REASONS.get(status, b"Error"), len(body), body))


def default_max_connections() -> int:
    """The process's open-file limit, less a fiftieth (at least 64) for everything else."""
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 10_000
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 100_000
    return max(16, soft - max(64, soft // 50))


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
        # Don't invite the body with "100 Continue": the answer is already known.
        self.requestHeaders.removeHeader(b"expect")
        self.channel.refuse(413, f"A request body may carry at most {self._limit()} bytes; "
                                 f"this one has {said}. Send it in parts.")

    def process(self) -> None:
        if self._refused:
            return  # answered already; the connection is closing
        channel = self.channel
        hosts = getattr(channel.site, "hosts", None)
        host = self.requestHeaders.getRawHeaders(b"host")
        # A connection asks for the same Host each time: checked once per connection.
        if hosts is not None and not (host and len(host) == 1
                                      and host[0] == getattr(channel, "host_ok", None)):
            try:
                hosts.check(host, self.clientproto)
            except HostRefused as exc:
                self._refused = True
                channel.refuse(exc.status, str(exc))
                return
            if host:
                channel.host_ok = host[0]
        super().process()

    def client_key(self) -> str | None:
        """Whom this request counts against in the bounds per client address (see
        `addresses`), or None when the connection has no address (a test's)."""
        channel = self.channel
        key = channel.address_key
        if key is None or not channel.via_proxy:
            return key
        headers = self.requestHeaders
        peer = self.getClientAddress()
        return addresses.client_key(channel.site.proxies.client(
            getattr(peer, "host", ""), headers.getRawHeaders(b"x-forwarded-for"),
            headers.getRawHeaders(b"x-real-ip")))

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

    The channel also notes when the request it reads began (`head_since`, until its head
    is whole) and when its body began (`body_since`, with `body_got` bytes so far), for the
    site's deadlines against slow senders; and it answers a head past Twisted's bounds
    with 431, any other malformed head with 400, each with a message.
    """

    factory: CometSite
    #: Reactor seconds since which nothing happened here; None while a request is handled
    #: (or answered with its bookkeeping waiting, until the site's sweep notices).
    idle_since: float | None = None
    #: When the first byte of the request head being read came (for the first request,
    #: when the connection began); None when none is read.
    head_since: float | None = None
    #: When the body being read began (None when none is), and its bytes so far.
    body_since: float | None = None
    body_got = 0
    #: The client's address key (`addresses.client_key`); None when it is not counted.
    address_key: str | None = None
    #: The peer is a trusted proxy (its requests say whom they are for).
    via_proxy = False
    #: The last ``Host`` value this connection sent that names this server.
    host_ok: bytes | None = None
    _reading = False  # inside dataReceived
    _closing = False  # refused: nothing more is read

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
        # The first request's head is due from the connection's start: a connection
        # opened to send nothing is as slow a sender as one that trickles.
        self.idle_since = self.head_since = self.factory.reactor.seconds()
        self.factory.channels.add(self)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self._closing:
            return
        if self._handlingRequest:
            answered = self._answered_waiting()
            if answered is not None:
                self._request_done(answered)
            else:  # a request is under way: these bytes are the next one's
                PIPELINED.add(self)
        if self.idle_since is not None:
            self.idle_since = self.factory.reactor.seconds()
        if (not self._handlingRequest and self.head_since is None
                and self.body_since is None):  # the first bytes of a request
            self.head_since = self.factory.reactor.seconds()
        self._reading = True
        try:
            super().dataReceived(data)
        finally:
            self._reading = False

    def lineReceived(self, line: bytes) -> None:  # noqa: N802
        if self._closing:
            return
        if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
            self._head_too_large()
            return
        super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:  # noqa: N802
        self._head_too_large()

    def headerReceived(self, line: bytes) -> bool:  # noqa: N802
        if self._receivedHeaderCount >= self.maxHeaders:
            self._head_too_large()
            return False
        return super().headerReceived(line)

    def _head_too_large(self) -> None:
        self.refuse(431, f"A request head may have lines of {self.MAX_LENGTH} bytes, "
                         f"{self.totalHeadersSize} bytes in all and {self.maxHeaders} "
                         "headers at most; this one has more.")

    def _respondToBadRequestAndDisconnect(self) -> None:  # noqa: N802 (Twisted's name)
        self.refuse(400, "This request is malformed: its request line, a header, or its "
                         "chunked body does not follow HTTP/1.1.")

    def refuse(self, status: int, message: str) -> None:
        """Answer `status` with `message` before the request is read whole, and close."""
        if self._closing or self.transport is None:
            return
        self._closing = True
        self.head_since = self.body_since = None
        self.persistent = False
        self.transport.write(refusal(status, message))
        self.loseConnection()

    def allHeadersReceived(self) -> None:  # noqa: N802
        self.head_since = None
        super().allHeadersReceived()
        if self.length != 0 and not self._closing:
            self.body_since = self.factory.reactor.seconds()
            self.body_got = 0

    def rawDataReceived(self, data: bytes) -> None:  # noqa: N802
        if self.body_since is not None and not self._handlingRequest:
            self.body_got += len(data)
        super().rawDataReceived(data)

    def allContentReceived(self) -> None:  # noqa: N802
        self.idle_since = None
        self.head_since = self.body_since = None
        super().allContentReceived()

    def requestDone(self, request: Request) -> None:  # noqa: N802
        PIPELINED.discard(self)  # what was buffered is read now (whoever finished the request)
        super().requestDone(request)
        if not self._handlingRequest:  # a pipelined request may have started meanwhile
            self.idle_since = self.factory.reactor.seconds()

    def connectionLost(self, reason: Any) -> None:  # noqa: N802
        self.factory.channels.discard(self)
        self.factory.release(self)
        PIPELINED.discard(self)
        super().connectionLost(reason)

    def _protocolUpgradeForWebsockets(self, protocol: Any) -> None:  # noqa: N802
        # The WebSocket's connectionLost replaces ours: still release the bounds' count.
        super()._protocolUpgradeForWebsockets(protocol)
        lost = self.connectionLost

        def connection_lost(reason: Any) -> None:
            self.factory.channels.discard(self)
            self.factory.release(self)
            lost(reason)

        self.connectionLost = connection_lost  # type: ignore[method-assign]


class _Refusal(Protocol):
    """A connection past a bound: answered at once, then closed.

    The answer is written as soon as the connection is made; the connection closes when
    the client's request comes (read, so that closing does not reset the connection and
    lose the answer on its way: some systems drop what was received when a reset comes)
    or after `LINGER` seconds, whichever is first. Only `POOL` refused connections wait
    so at once, since each holds an open file: past them, the answer is written and the
    connection closed at once.
    """

    LINGER = 1.0
    POOL = 32

    def __init__(self, site: CometSite, answer: bytes) -> None:
        self.site = site
        self.answer = answer
        self._timer: Any = None

    def connectionMade(self) -> None:  # noqa: N802 (Twisted's names)
        transport = self.transport
        assert transport is not None
        transport.write(self.answer)
        if self.site.lingering >= self.POOL:
            transport.loseConnection()
            return
        self.site.lingering += 1
        self._timer = self.site.reactor.callLater(self.LINGER, transport.abortConnection)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        assert self.transport is not None
        self.transport.loseConnection()

    def connectionLost(self, reason: Any) -> None:  # noqa: N802
        if self._timer is not None:
            self.site.lingering -= 1
            if self._timer.active():
                self._timer.cancel()
            self._timer = None


#: Connections that received bytes while a request was under way (a pipelined request),
#: until that request is done: what `_dataBuffer` says, in a set, so that a fan-out can
#: ask about thousands of connections without touching them (`wire.answer_poll`).
PIPELINED: set[CometChannel] = set()


class CometSite(Site):
    """A `Site` making `CometRequest`s, with ``max_body``, a quiet log for comet, and one
    sweep for the idle timeout of all its connections (`CometChannel`).

    `timeout`: seconds a connection may stay idle (no request under way, nothing received)
    before it is closed; None for never. `header_timeout`, `body_timeout` and
    `body_min_rate`: the deadlines of a request's head and body (module docstring); None
    for none. Each is enforced within a quarter of the shortest.

    `hosts`: the names the site answers to (default: loopback names and IP addresses).
    `max_connections`: connections at once (default: from the open-file limit; 0: no
    bound); `max_connections_per_address`: from one client address (0: no bound);
    `proxies`: the proxies whose forwarding headers say who the client is.
    """

    requestFactory = CometRequest
    protocol = CometChannel

    def __init__(self, resource: Any, *, max_body: int = MAX_BODY,
                 timeout: float | None = 60.0,
                 header_timeout: float | None = HEADER_TIMEOUT,
                 body_timeout: float | None = BODY_TIMEOUT, body_min_rate: int = BODY_MIN_RATE,
                 hosts: HostPolicy | None = None, max_connections: int | None = None,
                 max_connections_per_address: int = MAX_CONNECTIONS_PER_ADDRESS,
                 proxies: TrustedProxies | None = None, **kwargs: Any) -> None:
        super().__init__(resource, timeout=None, **kwargs)  # no timer per connection
        self.max_body = max_body
        self.idle_timeout = timeout
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.body_min_rate = body_min_rate
        self.hosts = hosts or HostPolicy()
        self.max_connections = (default_max_connections() if max_connections is None
                                else max_connections)
        self.per_address = Counts(max_connections_per_address)
        self.proxies = proxies or TrustedProxies()
        #: Connections counted in the bounds, open now; refused ones waiting to close.
        self.open_connections = 0
        self.lingering = 0
        self.displayTracebacks = False  # never show a traceback to a client
        # Weak, to be safe: a connection must never be kept alive by this set.
        self.channels: WeakSet[CometChannel] = WeakSet()
        self._sweep: LoopingCall | None = None

    @property
    def max_connections_per_address(self) -> int:
        return self.per_address.bound

    @max_connections_per_address.setter
    def max_connections_per_address(self, bound: int) -> None:
        self.per_address.bound = bound

    def startFactory(self) -> None:  # noqa: N802 (Twisted's names)
        super().startFactory()
        every = [t for t in (self.idle_timeout, self.header_timeout, self.body_timeout)
                 if t is not None]
        if every and self._sweep is None:
            self._sweep = LoopingCall(self.close_idle)
            self._sweep.clock = self.reactor
            self._sweep.start(max(0.05, min(every) / 4), now=False)

    def buildProtocol(self, addr: IAddress | None) -> Any:  # noqa: N802
        host = getattr(addr, "host", None)
        if host is None:  # no address (a test's or a benchmark's channel): not counted
            return super().buildProtocol(addr)
        key = addresses.client_key(host)
        via_proxy = self.proxies.trusts(host)
        if self.max_connections and self.open_connections >= self.max_connections:
            return _Refusal(self, refusal(503, (
                f"The server holds {self.max_connections} connections, its maximum; try "
                "again later.")))
        if not via_proxy and self.per_address.full(key):
            return _Refusal(self, refusal(429, (
                f"Too many connections from your address: it holds "
                f"{self.per_address.bound}, the most one address may (serve "
                "--max-connections-per-address).")))
        channel = super().buildProtocol(addr)
        channel.address_key = key
        channel.via_proxy = via_proxy
        self.per_address.add(key)
        self.open_connections += 1
        return channel

    def release(self, channel: CometChannel) -> None:
        """`channel` ended: it no longer counts in the connection bounds."""
        key = channel.address_key
        if key is not None:
            channel.address_key = None
            self.per_address.remove(key)
            self.open_connections -= 1

    def stopFactory(self) -> None:  # noqa: N802
        if self._sweep is not None:
            self._sweep.stop()
            self._sweep = None
        super().stopFactory()

    def close_idle(self) -> int:
        """Close the connections idle for longer than the timeout, and answer 408 and
        close those whose request head or body is late; how many there were."""
        now = self.reactor.seconds()
        inf = float("inf")
        idle_deadline = -inf if self.idle_timeout is None else now - self.idle_timeout
        head_deadline = -inf if self.header_timeout is None else now - self.header_timeout
        body_timeout, rate = self.body_timeout, max(1, self.body_min_rate)
        idle: list[CometChannel] = []
        late: list[tuple[CometChannel, str]] = []
        for channel in self.channels:
            since = channel.idle_since
            if since is None:
                if channel._answered_waiting() is not None:
                    channel.idle_since = now  # answered since the last sweep: idle from now
            elif since < idle_deadline:
                idle.append(channel)
                continue
            head = channel.head_since
            if head is not None and head < head_deadline:
                late.append((channel, f"The request's head did not arrive within "
                                      f"{self.header_timeout:g} seconds."))
                continue
            body = channel.body_since
            if (body is not None and body_timeout is not None
                    and now > body + body_timeout + channel.body_got / rate):
                late.append((channel, f"The request's body came slower than {rate} bytes "
                                      "per second."))
        for channel in idle:
            channel.idle_since = channel.head_since = channel.body_since = None  # once only
            channel._closing = True
            channel.timeoutConnection()  # Twisted's: close, abort if that takes too long
        for channel, message in late:
            channel.idle_since = None
            channel.refuse(408, message)
            if channel._abortingCall is None:  # abort if the client does not read
                channel._abortingCall = channel.callLater(channel.abortTimeout,
                                                          channel.forceAbortClient)
        return len(idle) + len(late)

    def log(self, request: Request) -> None:
        if not getattr(request, "quiet", False):
            super().log(request)
