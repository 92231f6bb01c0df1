"""Part 4 exercise: the client's side of a comet session's downstream, on its own.

Data arrives in pieces, each with the offset of its first byte in the session's stream. A
piece may repeat bytes the client holds already (the answer to a poll it gave up on, a
resend after a lost answer), and `accept` must keep every byte exactly once, in order.
`held` is everything received so far; its length is H, the ack the next poll sends. The
gap marked YOUR CODE HERE is the body of `accept`. Check your work with
`python -m comet_core check 4`; run the file to watch a small scenario:
`python parts/part04/exercise/starter.py`.
"""

from __future__ import annotations


class Gap(Exception):
    """A piece starts past the bytes held: something in between is missing."""


class Downstream:
    """What a comet client has received: the first H bytes of the session's stream."""

    def __init__(self) -> None:
        self.held = bytearray()

    @property
    def ack(self) -> int:
        """H: the number the next request sends as ``ack``."""
        return len(self.held)

    # start-accept
    def accept(self, offset: int, data: bytes) -> bytes:
        """Take a piece of data, the stream's bytes from `offset` on, and return the bytes
        that are new (possibly none), after adding them to `held`.

        Bytes below H are held already: drop them. A piece that starts past H would leave
        a hole: raise `Gap` and keep nothing of it.
        """
        # YOUR CODE HERE: drop the bytes held already, keep the rest, raise Gap for a hole.
        return b""
    # end-accept


if __name__ == "__main__":
    stream = Downstream()
    for offset, data in [(0, b"CONN"), (0, b"CONNECTED"), (9, b"\n\n"), (4, b"ECTED\n\n")]:
        new = stream.accept(offset, data)
        print(f"piece at {offset} {data!r}: new {new!r}; ack is now {stream.ack}")
    print(f"held: {bytes(stream.held)!r}")
