"""Comet session ids: unguessable, URL-safe, cheap to check.

A session id is the only thing that ties a request to a session (no cookie), so whoever
knows it can read and write that session: it is a capability, and must be as hard to guess
as a key. `new_session_id` draws `ID_BYTES` bytes (144 bits) from the operating system's
cryptographic source and spells them in the URL-safe base64 alphabet, so the id goes into
a path or a query string unescaped. 144 bits is a multiple of 6, hence no ``=`` padding:
every id is exactly `ID_LENGTH` characters.

Log a session by something else (the STOMP session's own id, say): an id in a log file is
a key left lying around.
"""

from __future__ import annotations

import re
import secrets

#: Random bytes in an id: 144 bits, more than the 128 an unguessable token needs.
ID_BYTES = 18
#: Characters in an id (4 base64 characters carry 3 bytes).
ID_LENGTH = ID_BYTES * 4 // 3

_ID_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{{ID_LENGTH}}}")


def new_session_id() -> str:
    """A fresh random session id (`ID_LENGTH` URL-safe characters)."""
    return secrets.token_urlsafe(ID_BYTES)


def is_session_id(text: str) -> bool:
    """Could `text` be a session id? Rejects junk before any lookup (and before logging)."""
    return _ID_PATTERN.fullmatch(text) is not None
