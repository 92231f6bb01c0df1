"""A session's open transactions: the SEND, ACK and NACK frames held until COMMIT.

STOMP transactions are not rollback: the server simply keeps the frames that name a
transaction and runs them, in order, at COMMIT; ABORT (or the end of the connection)
forgets them. What is held is bounded by a count of transactions and a total of bytes.
"""

from __future__ import annotations

from comet_core.stomp.errors import StompError
from comet_core.stomp.frames import Frame


class TransactionError(StompError):
    """A transaction frame the session refuses; it becomes an ERROR frame."""


class Transactions:
    """The open transactions of one session, by id."""

    def __init__(self, max_transactions: int, max_bytes: int) -> None:
        self.max_transactions = max_transactions
        self.max_bytes = max_bytes
        self._open: dict[str, list[Frame]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._open)

    def begin(self, transaction: str) -> None:
        if transaction in self._open:
            raise TransactionError("transaction already begun",
                                   f"Transaction {transaction!r} is already open.")
        if len(self._open) >= self.max_transactions:
            raise TransactionError("too many transactions", (
                f"A connection may have at most {self.max_transactions} open transactions."))
        self._open[transaction] = []

    def record(self, transaction: str, frame: Frame) -> None:
        """Hold `frame` until the transaction ends."""
        frames = self._open.get(transaction)
        if frames is None:
            raise TransactionError("unknown transaction", (
                f"{frame.command} names transaction {transaction!r}, which was not begun."))
        size = frame_size(frame)
        if self._bytes + size > self.max_bytes:
            raise TransactionError("transaction too large", (
                f"Open transactions may hold at most {self.max_bytes} bytes of frames on one "
                "connection; COMMIT sooner."))
        self._bytes += size
        frames.append(frame)

    def end(self, transaction: str, command: str) -> list[Frame]:
        """Close a transaction (COMMIT or ABORT) and hand back its frames, in order."""
        frames = self._open.pop(transaction, None)
        if frames is None:
            raise TransactionError("unknown transaction", (
                f"There is no open transaction {transaction!r} to {command}."))
        self._bytes -= sum(frame_size(f) for f in frames)
        return frames

    def clear(self) -> None:
        """Forget every open transaction: the implicit ABORT when a connection ends."""
        self._open.clear()
        self._bytes = 0


def frame_size(frame: Frame) -> int:
    """What holding `frame` costs, roughly, in bytes."""
    return len(frame.body) + sum(len(n) + len(v) + 2 for n, v in frame.headers) + 16
