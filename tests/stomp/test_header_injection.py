"""A NUL inside a header must not let a sender write frames "from the server".

A NUL ends a STOMP frame, and no version can escape one in a header. A broker that took
``x-a:junk\\0ERROR\\nmessage:forged`` as a header value and forwarded it byte for byte
would hand every subscriber a MESSAGE that ends early and an ERROR frame the sender wrote.
The codec refuses such a head on input, and the encoder never writes one.
"""

from __future__ import annotations

import re
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
import stomp

from comet_core.stomp import VERSIONS, FrameParser, MalformedFrame, encode_frame
from tests.helpers import Process

LISTENING = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")
TIMEOUT = 10.0
ATTACK = b"x-a:junk\0ERROR\nmessage:forged by another client\n"


def test_the_parser_refuses_a_nul_in_a_header_value_and_names_the_header() -> None:
    parser = FrameParser(version="1.2")
    with pytest.raises(MalformedFrame) as caught:
        parser.feed(b"SEND\ndestination:/topic/t\n" + ATTACK + b"\nhi\0")
    assert "'x-a'" in caught.value.message


@pytest.mark.parametrize("version", VERSIONS)
def test_the_parser_refuses_a_nul_in_a_header_name(version: str) -> None:
    parser = FrameParser(version=version)
    with pytest.raises(MalformedFrame) as caught:
        parser.feed(b"SEND\nx\0y:1\n\n\0")
    assert "NUL" in caught.value.message


def test_the_error_names_at_most_64_characters_of_the_header() -> None:
    parser = FrameParser(version="1.2")
    with pytest.raises(MalformedFrame) as caught:
        parser.feed(b"SEND\n" + b"n" * 500 + b":a\0b\n\n\0")
    assert "n" * 64 in caught.value.message and "n" * 65 not in caught.value.message


@pytest.mark.parametrize("version", VERSIONS)
def test_the_encoder_never_writes_a_nul_in_a_header(version: str) -> None:
    with pytest.raises(ValueError, match="NUL"):
        encode_frame("MESSAGE", [("x-a", "junk\0ERROR")], b"", version)


# --- the attack on the wire, against the real broker ------------------------------------


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    process = Process(["broker", "--port", "0", "--quiet"])
    try:
        m = process.wait_for(LISTENING)
        yield m.group(1).decode(), int(m.group(2))
    finally:
        process.stop()


class Subscriber(stomp.ConnectionListener):
    """A stomp.py subscriber: records every MESSAGE and every ERROR it believes it got."""

    def __init__(self) -> None:
        self.bodies: list[bytes | str] = []
        self.errors: list[str | None] = []
        self.done = threading.Event()

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.bodies.append(frame.body)
        if frame.body in ("the end", b"the end"):
            self.done.set()

    def on_error(self, frame: stomp.utils.Frame) -> None:
        self.errors.append(frame.headers.get("message"))


def raw_frames(sock: socket.socket) -> list:
    """Frames until the broker closes the connection (or the timeout)."""
    parser, frames = FrameParser(), []
    try:
        while data := sock.recv(65536):
            frames += parser.feed(data)
    except TimeoutError:
        pass
    return frames


def test_a_subscriber_never_sees_an_error_frame_another_client_wrote(address):
    topic = f"/topic/injection-{uuid.uuid4().hex}"
    listener = Subscriber()
    conn = stomp.Connection12([address])
    conn.set_listener("", listener)
    conn.connect(wait=True)
    conn.subscribe(topic, id="1", ack="auto", headers={"receipt": "subscribed"})
    try:
        with socket.create_connection(address, timeout=TIMEOUT) as attacker:
            attacker.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0")
            attacker.sendall(b"SEND\ndestination:" + topic.encode() + b"\n" + ATTACK
                             + b"\nhello\0")
            frames = raw_frames(attacker)
        assert [f.command for f in frames] == ["CONNECTED", "ERROR"]
        assert "'x-a'" in (frames[1].get("message") or "")
        # A well-behaved message after it: once it arrives, anything forged would have too.
        with socket.create_connection(address, timeout=TIMEOUT) as sender:
            sender.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0"
                           b"SEND\ndestination:" + topic.encode() + b"\n\nthe end\0"
                           b"DISCONNECT\nreceipt:bye\n\n\0")
            raw_frames(sender)
        assert listener.done.wait(TIMEOUT), listener.bodies
        assert listener.errors == []
        assert [b if isinstance(b, str) else b.decode() for b in listener.bodies] == ["the end"]
    finally:
        conn.disconnect()
