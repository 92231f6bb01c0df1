"""Comet over HTTP: long-polling, XHR streaming and Server-Sent Events for one session.

A browser gets a STOMP session (the same `ServerSession` the TCP broker runs) through a
comet session (`comet_core.comet`), carried by plain HTTP requests. `serve` mounts the
resource at ``/comet/``; every path below is relative to that mount point. The full
reference, with ``curl`` examples, is docs/reference/comet-protocol.md.

**Numbers.** All counts are bytes of the session's streams (see `comet_core.comet`):
``ack=H`` is how many downstream bytes the client holds; ``offset=O`` is the offset of an
upload's first byte; each data record says the offset of its first byte. Numbers are
plain decimal, no sign, no leading ``+``.

**Endpoints** (``ID`` is the 24-character URL-safe session id)::

    POST   /comet/                          open      -> 201, body: ID
    POST   /comet/ID/send?offset=O          upload    -> 200, body: A (decimal), newline
    GET    /comet/ID/poll?ack=H[&hold=S]    long-poll -> 200, records (below)
    GET    /comet/ID/stream?ack=H[&recycle=N]  XHR streaming -> 200, records, chunked
    GET    /comet/ID/sse?ack=H[&recycle=N]  Server-Sent Events -> 200, text/event-stream
    DELETE /comet/ID                        close     -> 204
    OPTIONS any of them                     CORS preflight -> 204

- open: the body is the session id alone (no newline). Then the client speaks STOMP:
  it uploads a CONNECT frame and reads CONNECTED from a downstream request.
- send: the request body is raw STOMP bytes, the stream's bytes from ``offset`` on. The
  answer is ``A\\n``: bytes applied so far. A retry (same offset, same bytes) is applied
  once; ``offset`` > A is 409. Body larger than the upload bound: 413.
- poll: answered at once when bytes after H are waiting, else held until some come or
  ``hold`` seconds pass (default and maximum: the server's hold bound, 30 s), then
  answered with an empty body. A newer downstream request for the session ends the
  held one (empty body, or the records it carries).
- stream: one chunked response carrying records as they come, opening with a keep-alive
  record (a lone ``\\n``, so a client sees at once that no proxy holds the stream back) and
  another every 15 s while idle, ended after about ``recycle`` bytes of data
  (default and maximum: the server's bound, 1 MiB) with an ``e`` record: open the next
  stream with the new ack.
- sse: for ``EventSource``. Each piece of data is one event, ``id:`` = the offset *after*
  its data (so ``Last-Event-ID`` = H on the browser's automatic reconnect; the header,
  when present, overrides ``ack``). Encoding of the bytes: when they are valid UTF-8 and
  hold no CR, the event has the default type ``message`` and its data is the text (each
  LF splits a ``data:`` line; the browser joins them with LF again); otherwise the event
  type is ``b`` and its data is the bytes in standard base64. Events: ``event: close``
  with ``data: REASON`` (the session is over: call ``es.close()``); ``event: end`` with
  ``data: REASON`` (this response ended because a newer request took over: do not
  reconnect). Recycling just ends the response (the browser reconnects with
  ``Last-Event-ID``); ``retry: 1000`` and an empty ``event: ready`` are sent first (a
  client sees at once that no proxy holds the stream back); keep-alive: a ``:`` comment line.
- close: ends the session (the STOMP session gets its connection lost).

**Records** (bodies of poll and stream; ASCII lines ending in LF)::

    d O L\\n<L bytes>\\n    data: the downstream bytes O to O+L
    c REASON\\n             the session is over (after its last data): stop asking
    e REASON\\n             this response ends here (recycled, replaced): ask again
    \\n                     keep-alive: ignore

A client keeps H, drops the first H-O bytes of a record with O < H, adds the rest, and
sends ``ack=H`` with its next request. A poll answer is zero or one ``d`` record,
possibly followed by a ``c`` record. XHR clients read bytes with
``overrideMimeType("text/plain; charset=x-user-defined")`` (one char per byte).

**Errors**: a status and a ``text/plain`` one-line message. 400 bad parameter (or a bad
request head), 403 Origin not allowed, 404 unknown session (or path), 405 wrong method,
408 head or body too slow, 409 upload gap, 410 session closed (message: the reason), 413
upload too large, 421 a ``Host`` this server does not answer to, 429 too many sessions or
connections from the client's address, 431 request head too large, 503 too many sessions
or connections in all.

**Cross-origin**: the ``Host`` must be one of the server's names (`hosts`: against DNS
rebinding). Then a request with an ``Origin`` header is refused (403) unless the origin is
the server's own (scheme and a checked Host), a ``--public-url``'s, or in the allow-list
(``serve --allow-origin``); an allowed one gets ``Access-Control-Allow-Origin`` set to it,
as the request spelled it. No cookies are used or needed. Requests without ``Origin``
(curl, same-origin GET) are allowed.

**WebSocket** (``GET /comet/ID/ws?ack=H``, upgraded; `comet_core.transports.http.ws`):
one socket carries both streams; no subprotocol. Refusals are the HTTP errors above,
before the upgrade. Server to client: binary messages, each one or more whole records as
above plus ``a A\n`` (A upstream bytes applied: the answer to each upload); after a ``c``
or ``e`` record the socket closes (1000); a lone ``\n`` every 15 s while idle. Client to
server: text (its UTF-8 bytes) or binary messages: ``d O\n<bytes>`` (upload from offset
O to the message's end, as ``send?offset=O``), ``a H`` (the client holds H bytes: send it
after each message with data, at the latest every 256 KiB), ``c`` (close the session, as
DELETE). A bad message closes the socket, the session stays: 4400 malformed or bad ack,
4409 upload gap, 4410 session closing, 4413 upload too large, 1009 message too large.
Raw STOMP over WebSocket is ``/stomp`` (`comet_core.transports.websocket`).
"""
