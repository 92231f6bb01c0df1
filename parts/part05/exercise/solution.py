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

import base64


# start-event
def sse_event(offset: int, data: bytes) -> bytes:
    """One event carrying `data` (the stream's bytes from `offset` on)."""
    head = b"id: %d\n" % (offset + len(data))
    if b"\r" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return head + b"".join(b"data: %s\n" % line for line in data.split(b"\n")) + b"\n"
    return head + b"event: b\ndata: %s\n\n" % base64.b64encode(data)
# end-event


if __name__ == "__main__":
    for offset, data in [(0, b"CONNECTED\nversion:1.2\n\n\x00"), (25, b"caf\xc3\xa9"),
                         (30, b"\xff\xfe binary")]:
        print(sse_event(offset, data).decode())
