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
