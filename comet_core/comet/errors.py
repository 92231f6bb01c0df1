"""What a comet session refuses, and how an HTTP transport should answer it.

Every refusal a client can cause is a `CometError`. Its text is written for the client
(the transport puts it in the response body, never a traceback) and `status_hint` is the
HTTP status to answer with, chosen here once so that every transport agrees. The one
error a client cannot cause, `BufferFull`, is a bug in the code that writes to a session.
"""

from __future__ import annotations


class CometError(Exception):
    """A request the comet layer refuses; ``str(error)`` is the message for the client."""

    #: The HTTP status a transport answers with.
    status_hint = 400


class BadNumber(CometError):
    """A number from the client is impossible: an ack of bytes never sent, or a negative
    offset. A correct client never sends one; retrying will not help."""


class UploadGap(BadNumber):
    """An upload starts past the bytes applied so far: something in between is missing.

    The client resends from the `applied` count the server last reported (the message
    repeats it)."""

    status_hint = 409


class UploadTooLarge(CometError):
    """One upload carries more bytes than ``CometLimits.max_upload``; send it in parts."""

    status_hint = 413


class UnknownSession(CometError):
    """No session has this id: it never existed, expired, or was closed and removed."""

    status_hint = 404


class SessionClosed(CometError):
    """The session is closing or closed; the message gives the reason."""

    status_hint = 410


class TooManySessions(CometError):
    """The store holds ``CometLimits.max_sessions`` sessions: no room for another now."""

    status_hint = 503


class BufferFull(RuntimeError):
    """A producer wrote to a session that is not `writable`. A bug in the producer: it
    must wait for ``resume_writing``; the session refuses rather than drop or grow."""
