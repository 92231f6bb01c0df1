"""Bytes onto connections: at once when a socket is idle, and many together in a `batch`.

Twisted's ``transport.write`` only queues: the bytes go out on the reactor's next turn,
after registering the socket for writability and unregistering it once sent, two system
calls per response. `send` puts them on an idle socket at once instead. What the socket
does not take (or anything for a connection that already has bytes queued, or is not a
plain TCP one, e.g. TLS) goes through ``transport.write`` as usual, so the order of the
bytes never changes.

A message published to thousands of held requests is answered inside ``with batch():``.
There, the bytes for each idle connection wait, up to `SEND_CHUNK` connections at a time,
and then leave together, and work a transport must do once an answer has left (such as
twisted.web's bookkeeping of a request's end) is handed to `later` and runs at the end
of the block. No reactor turn passes inside a batch, so no connection is read or closed
in the middle of one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import tcp

#: How many connections' bytes wait at most inside a batch. Small: the clients start
#: reading while the later answers are made, and the flow of answers stays even (measured
#: against 512 and 128 with `bench comet`, long-poll at 9,000: a lower p99).
SEND_CHUNK = 32


def idle_plain_tcp(transport: Any) -> bool:
    """Is this a plain TCP connection with nothing queued? (Twisted internals: any doubt, no.)"""
    try:
        return (type(transport) is tcp.Server and transport.connected
                and not transport.disconnecting and not transport._writeDisconnected
                and not transport._tempDataLen
                and transport.offset == len(transport.dataBuffer))
    except AttributeError:  # a Twisted whose transport is laid out otherwise
        return False


def send(transport: Any, data: bytes) -> None:
    """Write `data` to a connection: see the module's docstring."""
    if _depth:
        waiting = _waiting.get(transport)
        if idle_plain_tcp(transport):
            if waiting is not None:
                _waiting[transport] = waiting + data
                return
            _waiting[transport] = data
            if len(_waiting) >= SEND_CHUNK:
                _send_waiting()
            return
    elif idle_plain_tcp(transport):
        try:
            sent = transport.socket.send(data)
        except OSError:  # would block, interrupted; or failed: the transport meets it itself
            sent = 0
        if sent >= len(data):
            return
        data = data[sent:]
    transport.write(data)


def later(action: Callable[[Any], object], argument: Any) -> bool:
    """Inside a batch, call ``action(argument)`` at its end, after the bytes have left;
    False (and nothing done) outside one."""
    if not _depth:
        return False
    _later.append((action, argument))
    return True


def batching() -> bool:
    """Are we inside a `batch`?"""
    return _depth > 0


class batch:  # noqa: N801 (used as a `with` statement)
    """``with batch():`` sends a chunk of connections' bytes at a time (see `send`) and
    runs what was handed to `later` at the end. Blocks may nest: the outermost one ends it.
    """

    def __enter__(self) -> None:
        global _depth
        _depth += 1

    def __exit__(self, *exc: object) -> None:
        global _depth
        if _depth > 1:
            _depth -= 1
            return
        try:
            _send_waiting()
        finally:
            _depth = 0
            while _later:
                actions = _later[:]
                _later.clear()
                for action, argument in actions:
                    action(argument)


_depth = 0
#: Connections whose bytes wait for the others of their chunk, inside a batch.
_waiting: dict[Any, bytes] = {}
_later: list[tuple[Callable[[Any], object], Any]] = []


def _send_waiting() -> None:
    """Send every waiting connection's bytes; what a socket did not take is queued first."""
    waiting = list(_waiting.items())
    _waiting.clear()
    for transport, data in waiting:
        # Nothing can have reached the socket since (no reactor turn passed), but bytes
        # may have been queued in Twisted meanwhile, after these.
        if not transport._tempDataLen:
            try:
                sent = transport.socket.send(data)
            except OSError:  # would block, interrupted; or failed: the transport meets it
                sent = 0
            if sent >= len(data):
                continue
            data = data[sent:]
        _queue_first(transport, data)


def _queue_first(transport: Any, data: bytes) -> None:
    """Queue `data` on `transport` ahead of anything written to it after `data` was sent."""
    queued = getattr(transport, "_tempDataBuffer", None)
    if queued:
        queued.insert(0, data)
        transport._tempDataLen += len(data)
    else:
        transport.write(data)
