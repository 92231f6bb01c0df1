"""The bytes on the wire: response heads, records, SSE events, written in one go.

Comet responses skip twisted.web's header machinery: the head is a few fixed lines
formatted into one bytes object together with the body, and written with a single
write (`send`: to the socket at once when it can; with TCP_NODELAY set on the
connection, nothing waits on Nagle's algorithm). Twisted's `Request` is then told it
started writing, and `finish` does only the bookkeeping of a persistent connection
(``requestDone``, which also starts the connection's idle timeout). With thousands of
held requests answered at once, that is most of the per-response cost saved, and inside
a `batch` even that bookkeeping waits until every answer has left.

The record syntax of poll and stream bodies, and the SSE encoding, are described in
`comet_core.transports.http`.
"""

from __future__ import annotations

import base64
from typing import Any

from twisted.internet import tcp
from twisted.web.server import Request

REASONS = {
    200: b"OK", 201: b"Created", 204: b"No Content", 400: b"Bad Request",
    403: b"Forbidden", 404: b"Not Found", 405: b"Method Not Allowed", 409: b"Conflict",
    410: b"Gone", 413: b"Content Too Large", 429: b"Too Many Requests",
    500: b"Internal Server Error", 503: b"Service Unavailable",
}

TEXT = b"text/plain; charset=utf-8"
#: XHR bodies are bytes; a client reads them with the x-user-defined charset.
RECORDS = b"application/octet-stream"
EVENTS = b"text/event-stream; charset=utf-8"

#: The line every comet response carries: nothing here may be cached.
_COMMON = b"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"


def _connection(request: Request) -> bytes:
    """``Connection: close`` when Twisted decided the connection ends after this response."""
    if request.channel.persistent:
        return b""
    return b"Connection: close\r\n"


def _idle_plain_tcp(transport: Any) -> bool:
    """Is this a plain TCP connection with nothing queued? (Twisted internals: any doubt, no.)"""
    try:
        return (type(transport) is tcp.Server and transport.connected
                and not transport.disconnecting and not transport._writeDisconnected
                and not transport._tempDataLen
                and transport.offset == len(transport.dataBuffer))
    except AttributeError:  # a Twisted whose transport is laid out otherwise
        return False


def send(transport: Any, data: bytes) -> None:
    """Write `data` to a connection, straight to its socket when nothing is queued there.

    Twisted's ``transport.write`` only queues: the bytes go out on the reactor's next turn,
    after registering the socket for writability and unregistering it once sent, two system
    calls per response. When thousands of held requests are answered at once, sending at
    once skips both and the first answers leave while the rest are still being made. What
    the socket does not take now (or anything on a connection that already has bytes
    queued, or is not a plain TCP one, e.g. TLS) goes through ``transport.write`` as usual,
    so the order of the bytes never changes.
    """
    if _idle_plain_tcp(transport):
        try:
            sent = transport.socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # the transport meets the error itself, and closes
        if sent >= len(data):
            return
        data = data[sent:]
    transport.write(data)


def respond(request: Request, status: int, body: bytes = b"", *, extra: bytes = b"",
            content_type: bytes = TEXT) -> None:
    """Answer `request` completely, head and body in one write; a lost request is skipped."""
    if request.finished or request._disconnected:
        return
    request.code = status
    request.startedWriting = 1
    if status == 204:
        head = b"HTTP/1.1 204 No Content\r\n%s%s%s\r\n" % (_COMMON, extra,
                                                           _connection(request))
    else:
        head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s%s\r\n" % (
            status, REASONS.get(status, b"Error"), content_type, len(body), _COMMON, extra,
            _connection(request))
    request.sentLength = len(body)
    send(request.channel.transport, head + body)
    finish(request)


def finish(request: Request) -> None:
    """``request.finish()`` for a response written whole by this module, minus its detours.

    Twisted's ``finish`` would write nothing here (the response is complete), so a quiet,
    unqueued request with no producer goes straight to the channel's bookkeeping; any
    other goes the usual way.
    """
    if (request.queued or request.producer is not None or request._disconnected
            or request.notifications or getattr(request, "_encoder", None) is not None
            or not getattr(request, "quiet", False)):
        request.finish()
        return
    request.finished = 1
    if request.content is not None:
        request.content.close()
        request.content = None
    if _batch is not None:
        _batch.append(request)
    else:
        _done(request)


def _done(request: Request) -> None:
    """The channel's bookkeeping of a finished response (ready for the next request)."""
    channel = getattr(request, "channel", None)
    if channel is None or request._disconnected:
        return  # the connection was lost meanwhile: nothing left to do
    channel.requestDone(request)
    del request.channel


#: Finished responses whose channel bookkeeping waits for the end of a batch (`batch`).
_batch: list[Request] | None = None
_batch_depth = 0


class batch:  # noqa: N801 (used as a `with` statement)
    """Within ``with wire.batch():``, the channel bookkeeping of each response `finish`
    ends is done at the end of the block, after every answer is written.

    Answering thousands of held requests at once, each answer's bytes then leave before
    the bookkeeping of all (Twisted's, with a new idle-timeout call per connection). No
    reactor turn passes inside the block, so a connection cannot start its next request
    in between; the order of everything else is unchanged.
    """

    def __enter__(self) -> None:
        global _batch, _batch_depth
        _batch_depth += 1
        if _batch is None:
            _batch = []

    def __exit__(self, *exc: object) -> None:
        global _batch, _batch_depth
        _batch_depth -= 1
        if _batch_depth:
            return
        done, _batch = _batch, None
        for request in done or ():
            _done(request)


_RECORDS_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: " + RECORDS + b"\r\nContent-Length: %d\r\n"
                 + _COMMON.replace(b"%", b"%%") + b"%s%s\r\n%s")


def answer_records(request: Request, body: bytes, extra: bytes) -> None:
    """`respond` with 200 and a records body: the long-poll answer, written as directly as
    it can be (thousands are written at once when a message reaches every held poll)."""
    if request.finished or request._disconnected:
        return
    request.code = 200
    request.startedWriting = 1
    request.sentLength = len(body)
    channel = request.channel
    data = _RECORDS_HEAD % (len(body), extra,
                            b"" if channel.persistent else b"Connection: close\r\n", body)
    send(channel.transport, data)
    finish(request)


def error(request: Request, status: int, message: str, extra: bytes = b"") -> None:
    """A refusal: the status and a one-line message for the client."""
    respond(request, status, message.replace("\n", " ").encode("utf-8") + b"\n", extra=extra)


class Stream:
    """One open-ended response: chunked on HTTP/1.1, ended by closing on HTTP/1.0."""

    __slots__ = ("request", "chunked")

    def __init__(self, request: Request, content_type: bytes, extra: bytes,
                 first: bytes = b"") -> None:
        self.request = request
        self.chunked = request.clientproto == b"HTTP/1.1"
        request.code = 200
        request.startedWriting = 1
        if self.chunked:
            framing = b"Transfer-Encoding: chunked\r\n"
        else:
            framing = b"Connection: close\r\n"
            request.channel.persistent = False
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nX-Accel-Buffering: no\r\n%s%s%s\r\n"
                % (content_type, _COMMON, extra, framing))
        send(request.channel.transport, head + self._chunk(first))

    def _chunk(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self.chunked:
            return b"%x\r\n%s\r\n" % (len(data), data)
        return data

    def write(self, data: bytes) -> None:
        request = self.request
        if data and not (request.finished or request._disconnected):
            send(request.channel.transport, self._chunk(data))

    def end(self, data: bytes = b"") -> None:
        """The last bytes, then the end of the response."""
        request = self.request
        if request.finished or request._disconnected:
            return
        tail = self._chunk(data) + (b"0\r\n\r\n" if self.chunked else b"")
        if tail:
            send(request.channel.transport, tail)
        request.finish()


# --- records (poll and stream bodies) ---------------------------------------------------

def data_record(offset: int, data: bytes) -> bytes:
    return b"d %d %d\n%s\n" % (offset, len(data), data)


def reason_text(reason: str) -> bytes:
    """A reason on one line (it ends a record or an SSE field)."""
    return reason.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")


def closed_record(reason: str) -> bytes:
    return b"c %s\n" % reason_text(reason)


def end_record(reason: str) -> bytes:
    return b"e %s\n" % reason_text(reason)


KEEPALIVE_RECORD = b"\n"


# --- Server-Sent Events -----------------------------------------------------------------

def sse_event(offset: int, data: bytes) -> bytes:
    """One event carrying `data` (the bytes from `offset` on); its id is the offset after.

    Valid UTF-8 without CR goes as text (the default ``message`` type, one ``data:`` line
    per LF-separated line); anything else as base64 in an event of type ``b``.
    """
    end = offset + len(data)
    if b"\r" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            # A space after "data:" always: the parser removes exactly one, so a line
            # that starts with a space keeps it.
            return b"id: %d\ndata: %s\n\n" % (end, data.replace(b"\n", b"\ndata: "))
    return b"id: %d\nevent: b\ndata: %s\n\n" % (end, base64.b64encode(data))


def sse_named(event: bytes, reason: str) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (event, reason_text(reason))


#: The reconnect delay, then a "ready" event: a page cannot see comments or ``retry``,
#: and needs one event to know that events get through (no buffering proxy).
SSE_FIRST = b"retry: 1000\nevent: ready\ndata:\n\n"
SSE_KEEPALIVE = b":\n"
