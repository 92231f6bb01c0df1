"""A subscriber that never reads, over real TCP, cannot stall a topic for the others.

The broker runs in a subprocess with its bounds turned down (``outbound_soft`` 32 KiB,
``slow_consumer_timeout`` 0.3 s), so that a socket that subscribes and then never reads
(with a small receive buffer) falls behind as soon as the kernel's buffers for it are
full. A publisher sends 10 MB as fast as the broker takes it; a healthy reader must get
every message well before the 10 s a publisher may wait at a gate (``flow_timeout``),
and the silent subscriber, once it looks, finds its messages cut short by ERROR
"slow consumer".
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from comet_core.stomp.frames import Frame, FrameParser
from tests.helpers import ROOT

BROKER = """
import sys
from twisted.internet import reactor
from comet_core.hub import Hub
from comet_core.stomp.session import SessionLimits
from comet_core.transports.tcp import listen_stomp
limits = SessionLimits(outbound_soft=32 << 10, outbound_hard=1 << 20, slow_consumer_timeout=0.3)
port = listen_stomp(reactor, Hub(), "127.0.0.1", 0, limits=limits)
print("listening", port.getHost().port, flush=True)
reactor.run()
"""
#: Well under `SessionLimits.flow_timeout` (10 s): a stall that long fails the test.
TIMEOUT = 6.0
MESSAGES = 10_000  # far more than the kernel buffers hold for the silent one
BODY = b"x" * 1000


@pytest.fixture
def address() -> Iterator[tuple[str, int]]:
    process = subprocess.Popen([sys.executable, "-c", BROKER], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.match(rb"listening (\d+)", line)
        assert match, line + process.stdout.read()
        yield "127.0.0.1", int(match.group(1))
    finally:
        process.terminate()
        process.wait(timeout=15)


def connect(address: tuple[str, int], receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer is not None:  # before connecting, so the window starts small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(TIMEOUT)
    sock.connect(address)
    sock.sendall(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0")
    return sock


def frames_until(sock: socket.socket, parser: FrameParser, enough) -> list[Frame]:
    """Read frames until `enough(frames)` or the connection ends; fail after TIMEOUT."""
    frames: list[Frame] = []
    deadline = time.monotonic() + TIMEOUT
    while not enough(frames):
        assert time.monotonic() < deadline, f"only {len(frames)} frames in {TIMEOUT} s"
        data = sock.recv(1 << 16)
        if not data:
            break
        frames += parser.feed(data)
    return frames


def subscribe(sock: socket.socket, parser: FrameParser) -> None:
    sock.sendall(b"SUBSCRIBE\nid:1\ndestination:/topic/t\nreceipt:r\n\n\0")
    frames = frames_until(sock, parser, lambda f: len(f) == 2)
    assert [f.command for f in frames] == ["CONNECTED", "RECEIPT"], frames


def test_a_never_reading_subscriber_is_cut_and_the_reader_keeps_receiving(address):
    reader, reader_parser = connect(address), FrameParser()
    subscribe(reader, reader_parser)
    silent, silent_parser = connect(address, receive_buffer=4096), FrameParser()
    subscribe(silent, silent_parser)  # and then it stops reading
    publisher = connect(address)
    sending = threading.Thread(target=publisher.sendall, daemon=True, args=(b"".join(
        b"SEND\ndestination:/topic/t\n\n" + BODY + b"\0" for _ in range(MESSAGES)),))
    sending.start()
    try:
        got = frames_until(reader, reader_parser, lambda f: len(f) >= MESSAGES)
        assert len(got) == MESSAGES and {f.command for f in got} == {"MESSAGE"}
        sending.join(TIMEOUT)
        rest = frames_until(silent, silent_parser, lambda f: False)  # to the end
        assert rest and rest[-1].command == "ERROR", [f.command for f in rest[-3:]]
        assert rest[-1].get("message") == "slow consumer"
        assert len(rest) - 1 < MESSAGES  # it missed the rest, and was told so
    finally:
        for sock in (reader, silent, publisher):
            sock.close()
