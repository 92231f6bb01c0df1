"""One server's memory budget for STOMP buffers: every session's input and output together.

Each session bounds its own buffers (a frame, held input, unsent output), but a bound per
connection is no bound on a server: two thousand connections that each park an almost
complete 1 MiB frame hold 2 GB. A `MemoryBudget` is shared by every `ServerSession` of
one server, whatever carries it (TCP, the /stomp WebSocket, a comet session); each
session charges it with what it holds: its unfinished frame, input held while reading
was paused, and output not yet taken by its connection. At the budget:

- a session whose unfinished input would grow is refused (ERROR "server busy", then
  closed), so that parked frames cannot take the server past its budget;
- while unsent output is part of the excess (more than a quarter of the budget), a
  session that publishes is blocked, as RabbitMQ blocks publishers at its memory alarm:
  it stops being read until the total is back under three quarters of the budget, or
  the output under a quarter. Readers go on: output drains as consumers read it. (When
  unfinished input holds the budget, blocking publishers would free nothing, and input
  never waits for anything: the refusal above bounds it, so nothing can deadlock.)

It is plain bookkeeping, with no clock and no I/O: one object per server, passed in (two
servers in one process each have their own).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["DEFAULT_MEMORY_BUDGET", "MemoryBudget"]

#: 256 MiB: a quarter of a 1 GB machine, the smallest a public broker is likely to run on,
#: and room for 250 connections each busy with a frame of the largest default size.
DEFAULT_MEMORY_BUDGET = 256 << 20


class Blocked(Protocol):
    """A session waiting for the budget to free up."""

    def budget_freed(self) -> None: ...


class MemoryBudget:
    """Bytes held by the STOMP sessions of one server, against a `limit`."""

    __slots__ = ("limit", "input", "output", "_blocked")

    def __init__(self, limit: int = DEFAULT_MEMORY_BUDGET) -> None:
        if limit <= 0:
            raise ValueError("the memory budget must be a positive number of bytes")
        self.limit = limit
        self.input = 0   # unfinished frames and input held while reading is paused
        self.output = 0  # output not yet taken by the connections
        self._blocked: dict[Blocked, None] = {}  # insertion order: the first blocked resumes first

    @property
    def used(self) -> int:
        return self.input + self.output

    @property
    def exhausted(self) -> bool:
        """True while the sessions hold more than the budget."""
        return self.input + self.output > self.limit

    @property
    def publishers_wait(self) -> bool:
        """True while a session that publishes should stop being read: the budget is
        exhausted, and unsent output (which waiting publishers let drain) is part of it."""
        return self.exhausted and self.output > self.limit // 4

    @property
    def resume_level(self) -> int:
        """Blocked publishers are read again once the total is at or under this."""
        return self.limit - self.limit // 4

    @property
    def blocked(self) -> int:
        """How many sessions wait for the budget."""
        return len(self._blocked)

    def charge(self, input_delta: int, output_delta: int = 0) -> None:
        """A session holds so many more bytes of input and of output (fewer: negative)."""
        self.input += input_delta
        self.output += output_delta
        if self._blocked and (input_delta < 0 or output_delta < 0) and (
                self.used <= self.resume_level or self.output <= self.limit // 4):
            self._release()

    def sent(self, count: int) -> None:
        """`count` bytes of charged output left (the hot path of `charge`)."""
        self.output -= count
        if self._blocked and (self.input + self.output <= self.resume_level
                              or self.output <= self.limit // 4):
            self._release()

    def block(self, session: Blocked) -> None:
        """`session` stops reading until the budget frees (`budget_freed` is called)."""
        self._blocked[session] = None

    def forget(self, session: Blocked) -> None:
        """`session` no longer waits (it closed)."""
        self._blocked.pop(session, None)

    def _release(self) -> None:
        blocked, self._blocked = self._blocked, {}
        for session in blocked:
            session.budget_freed()
