"""Comet sessions: one client's two byte streams, kept whole across many HTTP requests.

A browser cannot keep a socket open to the server the way a TCP client does; it makes
requests, and any of them can fail, be retried or be replaced by the next. A comet session
gives it a byte stream in each direction anyway, and this package is that session's logic,
sans-IO (no sockets, no clock, no reactor): the HTTP transports of ``comet_core`` are
thin layers around it.

- `comet_core.comet.ids`: session ids, 144 random bits.
- `comet_core.comet.streams`: the numbered downstream and upstream byte streams.
- `comet_core.comet.sessions`: one session (`CometSession`), what carries its bytes down
  (`Waiter`) and what it carries (`SessionApp`).
- `comet_core.comet.store`: all sessions, their bound and their expiry (`SessionStore`).
- `comet_core.comet.bridge`: a STOMP session carried by a comet session (`StompBridge`).

**The numbers on the wire.**
Every transport carries the same numbers, in its own syntax. Each counts **bytes** of a
stream from its start (offset 0 is the session's first byte in that direction), not
bytes of a transport's encoding (an SSE event may carry them escaped); a count is a
plain non-negative integer. Because any prefix of a piece of data is itself good data, a
client may count the part of a piece it got before a connection broke.

Downstream, server to client:

- The client keeps H, the number of bytes it holds (all of them, in order), and every
  request for data carries it as ``ack`` = H. The server forgets those bytes. (An SSE
  reconnect's ``Last-Event-ID`` is that same number.)
- Data comes with the offset O of its first byte: bytes O to O+len. The client keeps the
  bytes from H on and drops the first H-O (a resend of bytes it has: the answer to an
  older request, or one the client gave up on). O is never above H: the server never
  skips a byte the client lacks. A stream sends many pieces, each starting where the last
  ended; each SSE event's ``id`` is the offset after its data, so the browser keeps H.
- When the server ends the session, the answer that carries its last bytes also
  carries the reason, and the client stops asking. Should that answer be lost, the
  client asks again as usual and gets the rest and the reason again; a request that
  acknowledges every byte gets the reason and removes the session (after that: 404).
- A request with an ack past the bytes sent is refused (400).

Upstream, client to server:

- Each upload carries ``offset`` = O of its first byte. The server applies the bytes it
  has not applied before, in order, and answers with ``applied`` = A, the bytes applied
  so far. The client forgets its bytes below A and, when it has more, sends them from
  A; an upload whose answer was lost is sent again as it was (or merged with newer
  bytes), and the bytes already applied are skipped, not applied twice. An upload
  starting past A is refused (409, with A in the message); one larger than the bound
  too (413).

The session id names the session in every request; an unknown or expired id gets 404,
a session that has closed gets 410 with its reason. Each refusal is a `CometError`
whose ``status_hint`` is that status and whose text is the message for the client.
"""

from comet_core.comet.bridge import StompBridge
from comet_core.comet.errors import (
    BadNumber,
    BufferFull,
    CometError,
    SessionClosed,
    TooManySessions,
    UnknownSession,
    UploadGap,
    UploadTooLarge,
)
from comet_core.comet.ids import is_session_id, new_session_id
from comet_core.comet.sessions import (
    REPLACED,
    CometLimits,
    CometSession,
    SessionApp,
    State,
    Waiter,
)
from comet_core.comet.store import SessionStore

__all__ = [
    "REPLACED",
    "BadNumber",
    "BufferFull",
    "CometError",
    "CometLimits",
    "CometSession",
    "SessionApp",
    "SessionClosed",
    "SessionStore",
    "State",
    "StompBridge",
    "TooManySessions",
    "UnknownSession",
    "UploadGap",
    "UploadTooLarge",
    "Waiter",
    "is_session_id",
    "new_session_id",
]
