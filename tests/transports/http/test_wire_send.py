"""`wire.send`: straight to the socket when it can, through Twisted otherwise, bytes in order."""

from twisted.internet import tcp

from comet_core.transports.http import wire


class FakeSocket:
    def __init__(self, takes: int | None = None, error: type[Exception] | None = None):
        self.takes, self.error, self.sent = takes, error, []

    def send(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error()
        n = len(data) if self.takes is None else min(self.takes, len(data))
        self.sent.append(bytes(data[:n]))
        return n


def server(sock: FakeSocket, queued: bytes = b"") -> tcp.Server:
    """A plain TCP server transport, as the reactor makes them, without a reactor."""
    transport = tcp.Server.__new__(tcp.Server)
    transport.socket = sock
    transport.connected, transport.disconnecting, transport._writeDisconnected = 1, False, False
    transport.dataBuffer, transport.offset, transport._tempDataLen = queued, 0, 0
    transport.written = []
    transport.write = transport.written.append  # what Twisted would queue
    return transport


def test_an_idle_connection_gets_the_bytes_straight_from_the_socket():
    t = server(FakeSocket())
    wire.send(t, b"HTTP/1.1 200 OK\r\n\r\n")
    assert t.socket.sent == [b"HTTP/1.1 200 OK\r\n\r\n"] and t.written == []


def test_what_the_socket_does_not_take_is_queued_after_what_it_took():
    t = server(FakeSocket(takes=4))
    wire.send(t, b"abcdefgh")
    assert t.socket.sent == [b"abcd"] and t.written == [b"efgh"]


def test_a_connection_with_bytes_already_queued_keeps_its_order():
    t = server(FakeSocket(), queued=b"earlier")
    wire.send(t, b"later")
    assert t.socket.sent == [] and t.written == [b"later"]


def test_a_socket_that_would_block_or_fails_falls_back_to_twisted():
    for error in (BlockingIOError, ConnectionResetError):
        t = server(FakeSocket(error=error))
        wire.send(t, b"data")
        assert t.written == [b"data"]


def test_other_transports_always_go_through_write():
    class Other:
        def __init__(self):
            self.written = []

        def write(self, data):
            self.written.append(data)

    t = Other()
    wire.send(t, b"data")
    assert t.written == [b"data"]


def test_a_transport_laid_out_otherwise_is_not_guessed_at():
    t = server(FakeSocket())
    del t._tempDataLen  # as if a later Twisted renamed its internals
    wire.send(t, b"data")
    assert t.socket.sent == [] and t.written == [b"data"]


class FakeChannel:
    def __init__(self):
        self.done = []

    def requestDone(self, request):  # noqa: N802 (Twisted's name)
        self.done.append(request)


class FakeRequest:
    """What `wire.finish` reads of a twisted.web Request answered whole by `wire`."""

    def __init__(self, channel, **unusual):
        self.channel, self.queued, self.producer, self._disconnected = channel, 0, None, False
        self.notifications, self.quiet, self.content, self.finished = [], True, None, 0
        self.finish_calls = 0
        self.__dict__.update(unusual)

    def finish(self):
        self.finish_calls += 1


def test_inside_a_batch_the_channel_bookkeeping_waits_for_the_end():
    channel = FakeChannel()
    requests = [FakeRequest(channel) for _ in range(3)]
    with wire.batch():
        for request in requests:
            wire.finish(request)
            assert request.finished
        assert channel.done == []  # every answer first...
    assert channel.done == requests  # ...then the bookkeeping, in order
    assert all(not hasattr(r, "channel") for r in requests)


def test_outside_a_batch_and_for_unusual_requests_finish_is_immediate_or_twisted_s():
    channel = FakeChannel()
    plain = FakeRequest(channel)
    wire.finish(plain)
    assert channel.done == [plain]
    watched = FakeRequest(channel, notifications=["someone waits on notifyFinish"])
    with wire.batch():
        wire.finish(watched)
    assert watched.finish_calls == 1 and channel.done == [plain]  # Twisted's own finish
