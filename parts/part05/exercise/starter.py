"""Part 5 exercise: encode a piece of a comet session's stream as one Server-Sent Event.

The browser's `EventSource` reads a `text/event-stream`: events made of `field: value`
lines and ended by an empty line. `sse_event(offset, data)` (the gap marked YOUR CODE
HERE) must write one event that carries `data`, the session's bytes from `offset` on, so
that the browser gets them back exactly, and whose `id` is the offset *after* them (the
browser then sends it as `Last-Event-ID` when it reconnects: that is its ack).
Text that is valid UTF-8 with no CR goes as the event's data, in the default event type,
one `data:` line per line; any other bytes go base64-encoded in an event of type `b`.
Check your work with `python -m comet_core check 5`; run the file to see three events:
`python parts/part05/exercise/starter.py`.
"""

from __future__ import annotations

import base64  # noqa: F401 (you will need it)


# start-event
def sse_event(offset: int, data: bytes) -> bytes:
    """One event carrying `data` (the stream's bytes from `offset` on)."""
    # YOUR CODE HERE: the id line, then the data as text or as base64 (event: b).
    return b""
# end-event


if __name__ == "__main__":
    for offset, data in [(0, b"CONNECTED\nversion:1.2\n\n\x00"), (25, b"caf\xc3\xa9"),
                         (30, b"\xff\xfe binary")]:
        print(sse_event(offset, data).decode())
