"""Python's share of a fan-out: one message to N held long-polls, the kernel left out.

`bench comet` times a release end to end, on a machine where the server shares its cores
with thousands of clients, so its figures move by tens of percent between runs. This one
runs the same code as `serve` (hub, STOMP sessions, comet sessions, the HTTP resource and
site, twisted.web's requests) in one process, with stand-in sockets whose ``send`` only
counts, and measures the CPU time the reactor thread spends per session in the release:
the part of the fan-out that is ours to make faster. Each round, every client asks again
on its keep-alive connection, and the next message is released.

Side by side, in the same run:

- carried: as `serve` does it, a topic message goes straight into each held session
  (`ServerSession.carry`, `StompBridge.can_carry`);
- pumped, the baseline: every STOMP session buffers the message and wakes its bridge,
  which is pumped after the publish (the path every other delivery takes).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

from twisted.internet import reactor, tcp
from twisted.web.resource import Resource

from comet_core.hub import Hub
from comet_core.stomp.session import ServerSession
from comet_core.transports import sending
from comet_core.transports.http.request import CometSite
from comet_core.transports.http.resource import CometResource

TOPIC = "/topic/fanout"


class CountingSocket:
    """A socket that takes everything: what a connection was sent, nothing more."""

    __slots__ = ("sent", "last")

    def __init__(self) -> None:
        self.sent = 0
        self.last = b""

    def send(self, data: bytes) -> int:
        self.sent += 1
        self.last = data
        return len(data)


def _transport() -> tcp.Server:
    """A plain TCP transport as the reactor makes one, on a `CountingSocket`."""
    t = tcp.Server.__new__(tcp.Server)
    t.socket = CountingSocket()
    t.connected, t.disconnecting, t._writeDisconnected = 1, False, False
    t.dataBuffer, t.offset, t._tempDataBuffer, t._tempDataLen = b"", 0, [], 0
    t.reactor, t.producer, t.streamingProducer = reactor, None, False
    for name in ("startReading", "stopReading", "pauseProducing", "resumeProducing",
                 "loseConnection", "setTcpNoDelay", "registerProducer", "unregisterProducer",
                 "getPeer", "getHost"):
        setattr(t, name, lambda *args: None)
    t.write = t._tempDataBuffer.append  # never used while the socket takes everything
    return t


class Clients:
    """N comet sessions on one site, each subscribed to `TOPIC` and holding a long-poll."""

    def __init__(self, n: int, carried: bool) -> None:
        self.hub = Hub()
        self.comet = CometResource(self.hub, reactor=reactor)
        root = Resource()
        root.putChild(b"comet", self.comet)
        self.site = CometSite(root)
        self.connections: list[tuple[Any, tcp.Server, bytes, int]] = []
        stomp = (b"CONNECT\naccept-version:1.2\nhost:bench\n\n\x00"
                 b"SUBSCRIBE\nid:0\ndestination:" + TOPIC.encode() + b"\n\n\x00")
        for _ in range(n):
            channel = self.site.buildProtocol(None)
            transport = _transport()
            channel.makeConnection(transport)
            sid = self._ask(channel, transport, b"POST /comet/ HTTP/1.1\r\nHost: localhost\r\n"
                            b"Content-Length: 0\r\n\r\n")
            self._ask(channel, transport, b"POST /comet/%s/send?offset=0 HTTP/1.1\r\n"
                      b"Host: localhost\r\nContent-Length: %d\r\n\r\n%s"
                      % (sid, len(stomp), stomp))
            ack = _acked(0, self._ask(channel, transport, _poll(sid, 0)))  # CONNECTED
            self.connections.append((channel, transport, sid, ack))
        if not carried:
            for session in self.comet.store:
                session.app.can_carry = None
        self.publisher = ServerSession(self.hub)
        self.publisher.receive_data(b"CONNECT\naccept-version:1.2\nhost:bench\n\n\x00")
        self.publisher.data_to_send()

    @staticmethod
    def _ask(channel: Any, transport: tcp.Server, raw: bytes) -> bytes:
        transport.socket.last = b""
        channel.dataReceived(raw)
        return transport.socket.last.split(b"\r\n\r\n", 1)[1]

    def hold(self) -> None:
        """Every client asks again (its connection's bookkeeping runs first)."""
        for channel, transport, sid, ack in self.connections:
            transport.socket.last = b""
            channel.dataReceived(_poll(sid, ack))
            if transport.socket.last:
                raise RuntimeError("a poll was answered at once: nothing should wait")

    def release(self, body: bytes) -> float:
        """Publish one message; CPU seconds until every held poll is answered."""
        frame = b"SEND\ndestination:%s\n\n%s\x00" % (TOPIC.encode(), body)
        start = time.thread_time()
        with sending.batch():
            self.publisher.receive_data(frame)
            self.comet._flush()  # the pumped path's wakeups (nothing for the carried one)
        spent = time.thread_time() - start
        for i, (channel, transport, sid, ack) in enumerate(self.connections):
            answer = transport.socket.last.partition(b"\r\n\r\n")[2]
            if body not in answer:
                raise RuntimeError(f"client {i} did not get the message: {answer[:80]!r}")
            self.connections[i] = (channel, transport, sid, _acked(ack, answer))
        return spent


def _poll(sid: bytes, ack: int) -> bytes:
    return b"GET /comet/%s/poll?ack=%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % (sid, ack)


def _acked(ack: int, body: bytes) -> int:
    """The ack after a poll answer with one data record (``d OFFSET LENGTH``)."""
    _, offset, length = body.split(b"\n", 1)[0].split(b" ")
    return int(offset) + int(length)


def measure(n: int, rounds: int, carried: bool) -> list[float]:
    """Microseconds of CPU per session for each round's release."""
    clients = Clients(n, carried)
    gc.collect()
    figures = []
    for r in range(rounds):
        clients.hold()
        figures.append(clients.release(b"release %d" % r) / n * 1e6)
    return figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=9000, help="held long-polls (default 9000)")
    parser.add_argument("--rounds", type=int, default=5, help="releases each (default 5)")


def run(args: argparse.Namespace) -> int:
    if args.n < 1 or args.rounds < 1:
        print("error: --n and --rounds must be at least 1")
        return 2
    print(f"One message to {args.n:,} held long-polls, {args.rounds} rounds each, "
          "CPU of the reactor thread per session (sockets that only count):")
    medians = {}
    for name, carried in (("pumped (baseline)", False), ("carried (serve)", True)):
        figures = measure(args.n, args.rounds, carried)
        medians[name] = statistics.median(figures)
        shown = ", ".join(f"{f:.2f}" for f in figures)
        print(f"  {name:18} median {medians[name]:5.2f} us  (rounds: {shown})")
    print(f"  carried / pumped: {medians['carried (serve)'] / medians['pumped (baseline)']:.2f}")
    return 0
