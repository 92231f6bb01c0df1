"""The two byte streams of a comet session, numbered by byte offset.

Each direction of a session is one stream of bytes, and every byte has a number: its
offset, counted from 0 at the session's start. Numbering bytes rather than messages or
requests keeps acknowledgement to one integer, "I have the first N bytes", whatever the
transport cut the stream into and however it is cut the next time.

- `Downstream` (server to client) keeps every byte until the client acknowledges it, so
  any request can resend what the last one may have lost.
- `Upstream` (client to server) remembers how many bytes it has applied, so a retried
  upload is applied once: the bytes below that count are skipped, a start past it is a gap.
"""

from __future__ import annotations

from comet_core.comet.errors import BadNumber, UploadGap


class Downstream:
    """Bytes for the client, kept from the first unacknowledged one to the last written.

    The buffer holds offsets ``acked`` (inclusive) to ``end`` (exclusive). `acknowledge`
    forgets a prefix; `since` hands back what a client with a given count is missing.
    A `bytearray` deletes a prefix without moving the rest, so acknowledging is cheap.
    """

    __slots__ = ("acked", "end", "_buffer")

    def __init__(self) -> None:
        #: Bytes the client acknowledged (and the server forgot); offset of the first kept.
        self.acked = 0
        #: Bytes written since the session opened; offset of the next byte.
        self.end = 0
        self._buffer = bytearray()

    @property
    def unacked(self) -> int:
        """Bytes kept: written and not yet acknowledged (sent or not)."""
        return self.end - self.acked

    def append(self, data: bytes) -> int:
        """Add bytes at the end; returns the offset of the first one."""
        offset = self.end
        self._buffer += data
        self.end = offset + len(data)
        return offset

    def acknowledge(self, ack: int) -> int:
        """The client has the first `ack` bytes: forget them. Returns the bytes freed.

        An ack below `acked` frees nothing (a request overtaken by a newer one may carry an
        old count); an ack past `end` claims bytes never sent, which only a broken or
        forged client does: `BadNumber`.
        """
        if ack < 0 or ack > self.end:
            raise BadNumber(f"ack={ack} is impossible: the server has sent bytes 0 to "
                            f"{self.end} of this session, so an ack is between 0 and "
                            f"{self.end}.")
        freed = ack - self.acked
        if freed <= 0:
            return 0
        del self._buffer[:freed]
        self.acked = ack
        return freed

    def since(self, offset: int) -> tuple[int, bytes]:
        """What a client holding the first `offset` bytes is missing: ``(start, data)``.

        `start` is `offset`, or `acked` when the client already acknowledged more than
        `offset` (it then holds those bytes, and drops the repeat by their offsets).
        """
        start = max(offset, self.acked)
        return start, bytes(self._buffer[start - self.acked:])

    def clear(self) -> None:
        """Forget every byte kept (the session ended: nobody will read them)."""
        self._buffer = bytearray()
        self.acked = self.end


class Upstream:
    """Counts the client's bytes applied so far, and applies each byte once, in order.

    The client numbers each upload by the offset of its first byte. An upload at `applied`
    is new; one that starts lower overlaps bytes already applied (a retry whose answer was
    lost, perhaps merged with newer bytes), and only its tail is new; one that starts
    higher would skip bytes: `UploadGap`. The client must resend the same bytes at the
    same offsets (it is its own stream), which is what makes skipping them correct.
    """

    __slots__ = ("applied",)

    def __init__(self) -> None:
        #: Bytes applied so far: the offset the next new byte must have.
        self.applied = 0

    def accept(self, offset: int, data: bytes) -> bytes:
        """The part of an upload not applied before (possibly empty); counts it applied."""
        applied = self.applied
        if offset < 0:
            raise BadNumber(f"offset={offset} is impossible: offsets start at 0.")
        if offset > applied:
            raise UploadGap(f"This upload starts at byte {offset}, but the session has "
                            f"applied bytes 0 to {applied} only; resend from {applied}.")
        skip = applied - offset
        if skip >= len(data):
            return b""
        new = data[skip:] if skip else data
        self.applied = applied + len(new)
        return new
