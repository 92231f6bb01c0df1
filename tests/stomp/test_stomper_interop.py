"""Our codec and stomper, the classic Python STOMP library, understand each other's frames.

stomper builds frames as `str`; we send them as UTF-8 bytes, as a stomper client would.
What stomper cannot do is left out rather than asserted: its `unpack_frame` trims every
header value and every body line and drops the body's newlines, knows no escapes and no
content-length, and its `StompBuffer` only releases a frame once ``\\0\\n`` has arrived.
"""

from __future__ import annotations

import pytest
import stomper
import stomper.stomp_10 as stomper_10
from stomper.stompbuffer import StompBuffer

from comet_core.stomp import VERSIONS, Frame, FrameParser


def ours(text: str, version: str = "1.1") -> list[Frame]:
    return FrameParser(version=version).feed(text.encode())


# --- frames stomper builds, read by our parser ---------------------------------------


def test_stomper_11_frames_parse() -> None:
    frames = ours(
        stomper.connect("alice", "s3cret", "example.org", (5000, 0))
        + stomper.subscribe("/topic/chat", "sub-0", ack="client-individual")
        + stomper.send("/topic/chat", "hello there", transactionid="tx1")
        + stomper.ack("m-1", "sub-0", transactionid="tx1")
        + stomper.nack("m-2", "sub-0")
        + stomper.begin("tx1")
        + stomper.commit("tx1")
        + stomper.abort("tx2")
        + stomper.unsubscribe("sub-0")
    )
    assert [f.command for f in frames] == [
        "CONNECT", "SUBSCRIBE", "SEND", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT", "UNSUBSCRIBE",
    ]  # fmt: skip
    connect, subscribe, send, ack, nack, *_, unsubscribe = frames
    assert connect.headers == [
        ("accept-version", "1.1"),
        ("host", "example.org"),
        ("heart-beat", "5000,0"),
        ("login", "alice"),
        ("passcode", "s3cret"),
    ]
    assert subscribe.get("id") == "sub-0"
    assert subscribe.get("ack") == "client-individual"
    assert send.get("destination") == "/topic/chat"
    assert send.get("transaction") == "tx1"
    assert send.body == b"hello there"
    assert (ack.get("message-id"), ack.get("subscription")) == ("m-1", "sub-0")
    assert nack.get("message-id") == "m-2"
    assert frames[5].get("transaction") == "tx1"
    assert unsubscribe.get("id") == "sub-0"


def test_stomper_disconnect_without_blank_line_parses() -> None:
    # stomper's disconnect() leaves out the blank line that ends the headers. We accept a
    # NUL where a header line would start as the end of a frame without body; otherwise a
    # stomper client's DISCONNECT would never get its receipt.
    [frame] = ours(stomper.disconnect("bye-1"))
    assert frame == Frame("DISCONNECT", [("receipt", "bye-1")])


def test_stomper_10_frames_parse_with_their_space_kept() -> None:
    # stomper's 1.0 helpers write "destination: /queue/a": the space is part of the value
    # (STOMP never trims), so a broker sees " /queue/a". See the report on issue 3.
    frames = ours(
        stomper_10.connect("bob", "pw")
        + stomper_10.subscribe("/queue/a", ack="client")
        + stomper_10.send("/queue/a", "payload")
        + stomper_10.ack("m-9", transactionid="t")
        + stomper_10.unsubscribe("/queue/a")
        + stomper_10.disconnect(),
        version="1.0",
    )
    assert [f.command for f in frames] == [
        "CONNECT", "SUBSCRIBE", "SEND", "ACK", "UNSUBSCRIBE", "DISCONNECT",
    ]  # fmt: skip
    assert frames[0].headers == [("login", "bob"), ("passcode", "pw")]
    assert frames[1].headers == [("destination", " /queue/a"), ("ack", " client")]
    assert frames[2].get("destination") == " /queue/a"
    assert frames[2].body == b"payload"
    assert frames[3].headers == [("message-id", " m-9"), ("transaction", " t")]
    assert frames[4].get("destination") == "/queue/a"


@pytest.mark.parametrize("version", VERSIONS)
def test_stomper_frame_pack_parses(version: str) -> None:
    frame = stomper.Frame()
    frame.cmd = "SEND"
    frame.headers = {"destination": "/topic/news", "receipt": "r-1", "x-lang": "café"}
    frame.body = "first line\nsecond line, ünïcode"
    [parsed] = ours(frame.pack(), version)
    assert parsed.command == "SEND"
    # pack() sorts the headers by name.
    assert parsed.headers == sorted(frame.headers.items())
    assert parsed.body == frame.body.encode()


def test_stomper_frames_in_one_read_and_byte_by_byte() -> None:
    data = (
        stomper.connect("u", "p", "h") + stomper.send("/q", "a") + stomper.disconnect("r")
    ).encode()
    whole = FrameParser().feed(data)
    parser = FrameParser()
    bytewise = [frame for i in range(len(data)) for frame in parser.feed(data[i : i + 1])]
    assert [f.command for f in whole] == ["CONNECT", "SEND", "DISCONNECT"]
    assert bytewise == whole


# --- frames we encode, read by stomper -----------------------------------------------

MESSAGE = Frame(
    "MESSAGE",
    [("destination", "/topic/chat"), ("message-id", "m-1"), ("subscription", "sub-0")],
    b"hello there",
)


@pytest.mark.parametrize("version", VERSIONS)
def test_stomper_unpack_frame_reads_our_frames(version: str) -> None:
    # unpack_frame trims and strips newlines: what survives it is a single-line body and
    # header values without surrounding spaces, which is what this frame has.
    unpacked = stomper.unpack_frame(MESSAGE.encode(version).decode())
    assert unpacked["cmd"] == "MESSAGE"
    assert unpacked["headers"] == dict(MESSAGE.headers) | {"content-length": "11"}
    assert unpacked["body"] == "hello there"


def test_stomper_frame_unpack_reads_our_connected() -> None:
    frame = stomper.Frame()
    frame.unpack(Frame("CONNECTED", [("version", "1.1"), ("heart-beat", "0,0")]).encode().decode())
    assert frame.cmd == "CONNECTED"
    assert frame.headers == {"version": "1.1", "heart-beat": "0,0"}


def test_stomper_buffer_reads_our_frames_with_binary_bodies() -> None:
    # StompBuffer waits for "\0\n" after a frame, though STOMP makes the EOL optional, so we
    # follow each frame with an EOL (a heart-beat to any other client). It counts content-
    # length in characters, so bytes go through Latin-1 to keep one character per byte.
    binary = Frame("MESSAGE", [("destination", "/q"), ("message-id", "2")], b"a\0b\xffc")
    buffer = StompBuffer()
    for frame in (MESSAGE, binary, Frame("RECEIPT", [("receipt-id", "r-1")])):
        buffer.appendData((frame.encode("1.0") + b"\n").decode("latin-1"))
    got = []
    while (message := buffer.getOneMessage()) is not None:
        got.append(message)
    assert [m["cmd"] for m in got] == ["MESSAGE", "MESSAGE", "RECEIPT"]
    assert got[0]["body"] == "hello there"
    assert got[1]["body"].encode("latin-1") == b"a\0b\xffc"
    assert got[1]["headers"]["destination"] == "/q"
    assert got[2]["headers"] == {"receipt-id": "r-1"}
    assert buffer.bufferIsEmpty()
