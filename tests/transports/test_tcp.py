"""The `broker` command over real sockets: `python -m comet_core broker --port 0`.

One broker process serves the module; tests use fresh destination names. The socket
client here parses with the project's codec, whose own tests prove it; the interop suite
(tests/interop) uses clients nobody here wrote.
"""

from __future__ import annotations

import re
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from comet_core.stomp.frames import Frame, FrameParser
from tests.helpers import Process, running

LISTENING = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")
TIMEOUT = 10.0


class Peer:
    """A raw socket speaking STOMP 1.2."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=TIMEOUT)
        self.parser = FrameParser()
        self.frames: list[Frame] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> Frame:
        deadline = time.monotonic() + TIMEOUT
        while not self.frames:
            assert time.monotonic() < deadline, "no frame in time"
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("the broker closed the connection")
            self.frames += self.parser.feed(data)
        return self.frames.pop(0)

    def connect(self, headers: bytes = b"") -> Frame:
        self.send(b"CONNECT\naccept-version:1.2\nhost:localhost\n" + headers + b"\n\0")
        frame = self.read()
        assert frame.command == "CONNECTED", frame
        return frame

    def closed(self) -> bool:
        """True when the broker closes the connection within the timeout."""
        deadline = time.monotonic() + TIMEOUT
        try:
            while self.sock.recv(65536):
                if time.monotonic() > deadline:
                    return False
        except TimeoutError:
            return False
        except OSError:
            pass
        return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def broker() -> Iterator[Process]:
    process = Process(["broker", "--port", "0", "--heart-beat", "100,100"])
    try:
        process.wait_for(LISTENING)
        yield process
        assert process.popen.poll() is None, "the broker died during the tests"
    finally:
        process.stop()


@pytest.fixture
def address(broker: Process) -> tuple[str, int]:
    m = LISTENING.search(b"".join(broker.output))
    assert m is not None
    return m.group(1).decode(), int(m.group(2))


@pytest.fixture
def peer(address) -> Iterator[Callable[[], Peer]]:
    opened: list[Peer] = []

    def make() -> Peer:
        opened.append(Peer(address))
        return opened[-1]

    yield make
    for p in opened:
        p.close()


def fresh(kind: str) -> bytes:
    return f"/{kind}/test-{uuid.uuid4().hex}".encode()


def test_connect_subscribe_send_receive(peer):
    listener, sender = peer(), peer()
    connected = listener.connect()
    assert connected.get("version") == "1.2" and connected.get("session")
    topic = fresh("topic")
    listener.send(b"SUBSCRIBE\nid:7\ndestination:" + topic + b"\nreceipt:s\n\n\0")
    assert listener.read().get("receipt-id") == "s"
    sender.connect()
    sender.send(b"SEND\ndestination:" + topic + b"\ncontent-type:text/plain\nreceipt:p\n\n"
                b"hello\0")
    assert sender.read().get("receipt-id") == "p"
    message = listener.read()
    assert message.command == "MESSAGE" and message.body == b"hello"
    assert message.get("subscription") == "7" and message.get("destination") == topic.decode()


def test_garbage_gets_an_error_then_the_connection_closes(peer, broker):
    bad = peer()
    bad.send(b"HELLO THERE\r\n\r\n\0")
    error = bad.read()
    assert error.command == "ERROR" and error.get("message")
    assert b"Traceback" not in error.body
    assert bad.closed()
    broker.wait_for(re.compile(rb"closing STOMP connection 127\.0\.0\.1:\d+: ERROR"))
    peer().connect()  # still serving


def test_the_log_says_who_connected(peer, broker):
    peer().connect(b"login:carol\npasscode:x\n")
    broker.wait_for(re.compile(rb"logged in as carol"))


def test_a_dropped_connection_gives_its_unacked_messages_to_another_consumer(peer):
    queue = fresh("queue")
    leaver, stayer, sender = peer(), peer(), peer()
    for p in (leaver, stayer, sender):
        p.connect()
    leaver.send(b"SUBSCRIBE\nid:1\ndestination:" + queue + b"\nack:client-individual\n"
                b"receipt:s\n\n\0")
    assert leaver.read().command == "RECEIPT"
    sender.send(b"SEND\ndestination:" + queue + b"\nreceipt:p\n\nthe job\0")
    assert sender.read().command == "RECEIPT"
    assert leaver.read().body == b"the job"
    stayer.send(b"SUBSCRIBE\nid:1\ndestination:" + queue + b"\nreceipt:s\n\n\0")
    assert stayer.read().command == "RECEIPT"
    leaver.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    leaver.close()  # a reset, without DISCONNECT
    again = stayer.read()
    assert again.body == b"the job" and again.get("redelivered") == "true"


def test_heart_beats_both_ways(peer):
    beating = peer()
    connected = beating.connect(b"heart-beat:0,100\n")
    assert connected.get("heart-beat") == "100,100"
    received = b""
    while received.count(b"\n") < 2:  # nothing else is due: these are the broker's beats
        data = beating.sock.recv(100)
        assert data, "the broker closed a connection that asked for its beats"
        received += data
    assert received.strip(b"\r\n") == b""
    silent = peer()
    silent.connect(b"heart-beat:100,0\n")  # promises beats, sends none
    error = silent.read()
    assert error.get("message") == "heart-beat timeout"
    assert silent.closed()


def test_a_users_file_requires_a_login(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("ann:s3cret\n")
    with running(["broker", "--port", "0", "--users", str(users)]) as process:
        m = process.wait_for(LISTENING)
        address = (m.group(1).decode(), int(m.group(2)))
        for headers in (b"login:ann\npasscode:wrong\n", b""):
            refused = Peer(address)
            refused.send(b"CONNECT\naccept-version:1.2\n" + headers + b"\n\0")
            error = refused.read()
            assert error.command == "ERROR" and error.get("message") == "login refused"
            assert refused.closed()
            refused.close()
        welcome = Peer(address)
        assert welcome.connect(b"login:ann\npasscode:s3cret\n").get("user-name") == "ann"
        welcome.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_it_cleanly_telling_the_clients(sig):
    with running(["broker", "--port", "0"]) as process:
        m = process.wait_for(LISTENING)
        client = Peer((m.group(1).decode(), int(m.group(2))))
        client.connect()
        process.popen.send_signal(sig)
        error = client.read()
        assert error.command == "ERROR" and error.get("message") == "server shutting down"
        assert client.closed()
        assert process.popen.wait(timeout=15) == 0
        process.wait_for(re.compile(rb"Stopped\."))
        client.close()


def test_a_port_in_use_is_a_clear_error():
    with running(["broker", "--port", "0"]) as first:
        port = first.wait_for(LISTENING).group(2).decode()
        with running(["broker", "--port", port]) as second:
            second.wait_for(re.compile(rb"cannot listen on 127\.0\.0\.1:" + port.encode()))
            assert second.popen.wait(timeout=15) == 2
