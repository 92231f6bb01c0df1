"""The bytes on the wire: response heads, records, SSE events, written in one go.

Comet responses skip twisted.web's header machinery: the head is a few fixed lines
formatted into one bytes object together with the body, and written with a single
`comet_core.transports.sending.send` (to the socket at once when it can; with TCP_NODELAY
set on the connection, nothing waits on Nagle's algorithm). Twisted's `Request` is then
told it started writing and has finished, and `finish` leaves the bookkeeping of the
connection to `CometChannel.answered`, which does it when the next request comes. With
thousands of held requests answered at once, that is most of the per-response cost saved.

The record syntax of poll and stream bodies, and the SSE encoding, are described in
`comet_core.transports.http`.
"""

from __future__ import annotations

import base64
from typing import Any

from twisted.web.server import Request

from comet_core.transports.http.request import PIPELINED
from comet_core.transports.sending import later, send

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
    answered = getattr(request.channel, "answered", None)
    if answered is not None:  # a CometChannel: it does the bookkeeping when it suits
        answered(request)
    elif not later(_done, request):
        _done(request)


def _done(request: Request) -> None:
    """The channel's bookkeeping of a finished response (ready for the next request)."""
    channel = getattr(request, "channel", None)
    if channel is None or request._disconnected:
        return  # the connection was lost meanwhile: nothing left to do
    channel.requestDone(request)
    del request.channel


_HEADS: dict[tuple[bytes, bool], bytes] = {}


def records_head(extra: bytes, persistent: bool) -> bytes:
    """The head of a 200 answer with a records body, its length left as ``%d``: one object
    for every held poll with the same `extra` lines and kind of connection."""
    head = _HEADS.get((extra, persistent))
    if head is None:
        if len(_HEADS) >= 256:  # a bound: the allowed origins are few, but who knows
            _HEADS.clear()
        head = _HEADS[extra, persistent] = (
            (b"HTTP/1.1 200 OK\r\nContent-Type: " + RECORDS + b"\r\n" + _COMMON + extra
             + (b"" if persistent else b"Connection: close\r\n")).replace(b"%", b"%%")
            + b"Content-Length: %d\r\n\r\n")
    return head


def answer_poll(request: Request, transport: Any, head: bytes, body: bytes,
                lazy: bool) -> None:
    """`respond` with 200 and a records body, for a long-poll: `head` from `records_head`
    and the request's `transport`, taken when it was held. Thousands are written at once
    when a message reaches every held poll, so this is as direct as it can be: when `lazy`
    (`PollWaiter.held` found nothing that needs Twisted's own finish), the connection is
    not even looked at, its bookkeeping waits for its next bytes (`CometChannel.answered`)."""
    if request.finished or request._disconnected:
        return
    request.code = 200
    request.startedWriting = 1
    request.sentLength = len(body)
    send(transport, head % len(body) + body)
    if not lazy:
        finish(request)
        return
    request.finished = 1
    if request.channel in PIPELINED:  # its next request is here already: not lazy after all
        request.channel.answered(request)


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
