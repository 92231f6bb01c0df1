"""`sending`: straight to the socket when it can, through Twisted otherwise, many at once in a
batch, bytes always in order; and `wire.finish`, whose bookkeeping waits for a batch's end."""

import pytest
from twisted.internet import tcp

from comet_core.transports import sending
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
    transport.dataBuffer, transport.offset = queued, 0
    transport._tempDataBuffer, transport._tempDataLen = [], 0

    def write(data):  # what Twisted does: queue
        transport._tempDataBuffer.append(data)
        transport.__dict__["_tempDataLen"] = getattr(transport, "_tempDataLen", 0) + len(data)

    transport.write = write
    return transport


def queued(transport) -> list[bytes]:
    return transport._tempDataBuffer


def test_an_idle_connection_gets_the_bytes_straight_from_the_socket():
    t = server(FakeSocket())
    sending.send(t, b"HTTP/1.1 200 OK\r\n\r\n")
    assert t.socket.sent == [b"HTTP/1.1 200 OK\r\n\r\n"] and queued(t) == []


def test_what_the_socket_does_not_take_is_queued_after_what_it_took():
    t = server(FakeSocket(takes=4))
    sending.send(t, b"abcdefgh")
    assert t.socket.sent == [b"abcd"] and queued(t) == [b"efgh"]


def test_a_connection_with_bytes_already_queued_keeps_its_order():
    t = server(FakeSocket(), queued=b"earlier")
    sending.send(t, b"later")
    assert t.socket.sent == [] and queued(t) == [b"later"]  # after "earlier", still queued


def test_a_socket_that_would_block_or_fails_falls_back_to_twisted():
    for error in (BlockingIOError, ConnectionResetError):
        t = server(FakeSocket(error=error))
        sending.send(t, b"data")
        assert queued(t) == [b"data"]


def test_other_transports_always_go_through_write():
    class Other:
        def __init__(self):
            self.written = []

        def write(self, data):
            self.written.append(data)

    t = Other()
    sending.send(t, b"data")
    assert t.written == [b"data"]


def test_a_transport_laid_out_otherwise_is_not_guessed_at():
    t = server(FakeSocket())
    del t._tempDataLen  # as if a later Twisted renamed its internals
    sending.send(t, b"data")
    assert t.socket.sent == [] and queued(t) == [b"data"]


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
    with sending.batch():
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
    with sending.batch():
        wire.finish(watched)
    assert watched.finish_calls == 1 and channel.done == [plain]  # Twisted's own finish


# --- batches -------------------------------------------------------------------------------

def test_inside_a_batch_bytes_wait_for_the_end_and_leave_in_order():
    a, b = server(FakeSocket()), server(FakeSocket())
    with sending.batch():
        sending.send(a, b"one ")
        sending.send(b, b"other")
        sending.send(a, b"two")
        assert a.socket.sent == b.socket.sent == []
    assert a.socket.sent == [b"one two"] and b.socket.sent == [b"other"]
    assert queued(a) == queued(b) == []


def test_a_full_chunk_leaves_before_the_batch_ends(monkeypatch):
    monkeypatch.setattr(sending, "SEND_CHUNK", 3)
    transports = [server(FakeSocket()) for _ in range(7)]
    with sending.batch():
        for i, t in enumerate(transports):
            sending.send(t, b"%d" % i)
        assert [t.socket.sent for t in transports[:6]] == [[b"%d" % i] for i in range(6)]
        assert transports[6].socket.sent == []
    assert transports[6].socket.sent == [b"6"]


def test_what_twisted_queued_meanwhile_goes_after_the_batch_bytes():
    t = server(FakeSocket())
    with sending.batch():
        sending.send(t, b"first")
        t.write(b"second")  # e.g. twisted.web writing on its own
        sending.send(t, b"third")
    # Each was written after the one before: the socket must see them in that order.
    assert t.socket.sent == [] and queued(t) == [b"first", b"second", b"third"]


def test_a_partial_send_in_a_batch_queues_the_rest_first():
    t = server(FakeSocket(takes=3))
    with sending.batch():
        sending.send(t, b"abcdef")
    assert t.socket.sent == [b"abc"] and queued(t) == [b"def"]
    sending.send(t, b"ghi")  # not idle any more: queued behind
    assert queued(t) == [b"def", b"ghi"]


def test_later_runs_after_the_bytes_left_and_only_inside_a_batch():
    t = server(FakeSocket())
    seen = []
    assert sending.later(seen.append, "outside") is False and seen == []
    with sending.batch():
        with sending.batch():  # nested: the outer block ends it
            sending.send(t, b"x")
            assert sending.later(lambda _: seen.append(list(t.socket.sent)), None)
        assert seen == [] and sending.batching()
    assert seen == [[b"x"]] and not sending.batching()


def test_a_failing_block_still_sends_and_runs_later():
    t = server(FakeSocket())
    seen = []
    with pytest.raises(RuntimeError), sending.batch():
        sending.send(t, b"kept")
        sending.later(seen.append, "done")
        raise RuntimeError("boom")
    assert t.socket.sent == [b"kept"] and seen == ["done"] and not sending.batching()


def test_bytes_for_a_connection_already_sent_in_this_batch_follow_its_first_ones():
    t = server(FakeSocket(takes=2))
    with sending.batch():
        sending.send(t, b"abcd")
        sending._send_waiting()  # its chunk leaves (as when SEND_CHUNK connections wait)
        sending.send(t, b"efgh")
    assert t.socket.sent == [b"ab"] and queued(t) == [b"cd", b"efgh"]
