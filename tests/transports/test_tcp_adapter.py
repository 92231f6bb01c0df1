"""The Twisted adapter in process, on Twisted's in-memory transport and clock.

These check the adapter's own duties (batching, back-pressure, timers, logins, closing)
deterministically; `test_tcp.py` checks the same broker over real sockets.
"""

from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from comet_core.hub import Hub
from comet_core.stomp.frames import Frame, FrameParser
from comet_core.stomp.session import SessionLimits, State
from comet_core.transports.auth import password_checker
from comet_core.transports.tcp import StompFactory, StompProtocol, listen_stomp


class Transport(StringTransport):
    """StringTransport counting writes, and recording an abort."""

    def __init__(self, port: int) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
        self.writes = 0
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)

    def abortConnection(self) -> None:
        self.aborted = True
        super().abortConnection()


class Peer:
    """One connected client: its protocol, transport and a parser for what it received."""

    ports = iter(range(40000, 50000))

    def __init__(self, factory: StompFactory) -> None:
        self.transport = Transport(next(self.ports))
        self.protocol: StompProtocol = factory.buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)
        self.parser = FrameParser()

    def send(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def frames(self) -> list[Frame]:
        data = self.transport.value()
        self.transport.clear()
        return self.parser.feed(data)

    def connect(self, extra: bytes = b"") -> Frame:
        self.send(b"CONNECT\naccept-version:1.2\n" + extra + b"\n\0")
        [frame] = self.frames()
        assert frame.command == "CONNECTED", frame
        return frame


@pytest.fixture
def reactor() -> MemoryReactorClock:
    return MemoryReactorClock()


def make_factory(reactor, **kw) -> StompFactory:
    return StompFactory(Hub(), reactor=reactor, **kw)


def test_a_fan_out_batch_is_one_write_per_subscriber(reactor):
    factory = make_factory(reactor)
    subscribers = [Peer(factory) for _ in range(3)]
    for peer in subscribers:
        peer.connect()
        peer.send(b"SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0")
        peer.transport.writes = 0
    publisher = Peer(factory)
    publisher.connect()
    publisher.send(b"SEND\ndestination:/topic/t\n\nm\0" * 50)
    for peer in subscribers:
        assert peer.transport.writes == 1
        assert len(peer.frames()) == 50


def test_a_full_transport_buffer_holds_output_and_pauses_the_publisher(reactor):
    limits = SessionLimits(outbound_soft=2000, outbound_hard=100_000)
    factory = make_factory(reactor, limits=limits)
    subscriber = Peer(factory)
    subscriber.connect()
    subscriber.send(b"SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0")
    subscriber.frames()
    publisher = Peer(factory)
    publisher.connect()
    subscriber.protocol.pauseProducing()  # what Twisted does when its buffer is full
    publisher.send(b"SEND\ndestination:/topic/t\n\n" + b"x" * 500 + b"\0")
    assert subscriber.transport.value() == b""  # kept in the session meanwhile
    publisher.send((b"SEND\ndestination:/topic/t\n\n" + b"x" * 500 + b"\0") * 10)
    assert publisher.transport.producerState == "paused"  # we stopped reading it
    assert subscriber.protocol.session.pending_output > limits.outbound_soft
    subscriber.protocol.resumeProducing()  # the buffer drained
    assert publisher.transport.producerState == "producing"
    assert len(subscriber.frames()) == 11
    assert not subscriber.protocol.session.closed


def test_the_server_beats_on_the_reactors_clock(reactor):
    factory = make_factory(reactor, limits=SessionLimits(heart_beat=(1000, 1000)))
    peer = Peer(factory)
    peer.connect(b"heart-beat:0,2000\n")
    reactor.advance(1.9)
    assert peer.transport.value() == b""
    reactor.advance(0.1)
    assert peer.transport.value() == b"\n"


def test_a_silent_client_is_dropped_and_a_peer_that_never_reads_is_cut(reactor):
    factory = make_factory(reactor, limits=SessionLimits(heart_beat=(1000, 1000),
                                                         heart_beat_grace=2.0))
    peer = Peer(factory)
    peer.connect(b"heart-beat:1000,0\n")
    reactor.advance(2.0)
    [error] = peer.frames()
    assert error.command == "ERROR" and error.get("message") == "heart-beat timeout"
    assert peer.transport.disconnecting and not peer.transport.aborted
    reactor.advance(factory.close_timeout)
    assert peer.transport.aborted


def test_garbage_gets_an_error_and_a_close(reactor):
    factory = make_factory(reactor)
    peer = Peer(factory)
    peer.send(b"\x00\x01garbage\n\n\0")
    [error] = peer.frames()
    assert error.command == "ERROR"
    assert peer.transport.disconnecting


def test_a_password_checker_refuses_and_accepts(reactor):
    factory = make_factory(reactor, checker=password_checker({"ann": "s3cret"}))
    wrong, anonymous, right = Peer(factory), Peer(factory), Peer(factory)
    wrong.send(b"CONNECT\naccept-version:1.2\nlogin:ann\npasscode:nope\n\n\0")
    [error] = wrong.frames()
    assert error.get("message") == "login refused" and wrong.transport.disconnecting
    anonymous.send(b"CONNECT\naccept-version:1.2\n\n\0")
    [error] = anonymous.frames()
    assert b"requires a login" in error.body
    right.connect(b"login:ann\npasscode:s3cret\n")
    assert right.protocol.session.user == "ann"


class SlowChecker:
    """A checker whose answer comes later (as from a database)."""

    from twisted.cred.credentials import IUsernamePassword

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self) -> None:
        self.pending: list[defer.Deferred[bytes]] = []

    def requestAvatarId(self, credentials) -> defer.Deferred[bytes]:
        d: defer.Deferred[bytes] = defer.Deferred()
        self.pending.append(d)
        return d


def test_frames_wait_for_a_slow_login_check(reactor):
    checker = SlowChecker()
    factory = make_factory(reactor, checker=checker)
    peer = Peer(factory)
    peer.send(b"CONNECT\naccept-version:1.2\nlogin:bob\npasscode:pw\n\n\0"
              b"SUBSCRIBE\nid:1\ndestination:/topic/t\nreceipt:r\n\n\0")
    assert peer.transport.value() == b""
    assert peer.transport.producerState == "paused"
    checker.pending[0].callback(b"bob")
    assert [f.command for f in peer.frames()] == ["CONNECTED", "RECEIPT"]
    assert peer.transport.producerState == "producing"


def test_a_lost_connection_releases_its_subscriptions_and_unacked_messages(reactor):
    factory = make_factory(reactor)
    leaver, stayer, sender = Peer(factory), Peer(factory), Peer(factory)
    for peer in (leaver, stayer, sender):
        peer.connect()
    leaver.send(b"SUBSCRIBE\nid:1\ndestination:/queue/q\nack:client-individual\n\n\0")
    sender.send(b"SEND\ndestination:/queue/q\n\njob\0")
    assert [f.body for f in leaver.frames()] == [b"job"]
    stayer.send(b"SUBSCRIBE\nid:1\ndestination:/queue/q\n\n\0")
    session = leaver.protocol.session
    leaver.protocol.connectionLost(Failure(ConnectionResetError("reset by peer")))
    assert session.state is State.CLOSED and "reset by peer" in (session.close_reason or "")
    [again] = stayer.frames()
    assert again.body == b"job" and again.get("redelivered") == "true"
    assert leaver.protocol not in factory.connections


def test_shutdown_sends_every_client_an_error(reactor):
    factory = make_factory(reactor)
    peers = [Peer(factory) for _ in range(2)]
    for peer in peers:
        peer.connect()
    done = factory.shutdown()
    for peer in peers:
        [error] = peer.frames()
        assert error.get("message") == "server shutting down"
        assert peer.transport.disconnecting
    for peer in peers:
        peer.protocol.connectionLost(Failure(ConnectionResetError()))
    reactor.advance(0.1)
    assert done.called


def test_listen_stomp_listens_and_stops_clients_at_shutdown(reactor):
    port = listen_stomp(reactor, Hub(), "127.0.0.1", 0)
    [(number, factory, _backlog, interface)] = reactor.tcpServers
    assert (number, interface) == (0, "127.0.0.1") and isinstance(factory, StompFactory)
    assert port is not None
    assert reactor.triggers["before"]["shutdown"]
