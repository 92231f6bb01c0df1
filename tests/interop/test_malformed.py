"""Bad input on raw sockets: an ERROR frame with a `message` header, then the connection ends.

STOMP requires the ERROR and the close; RabbitMQ sends the ERROR but holds the connection
open a while, so the close is checked where the broker does it (see `Broker`). Details that
are ours to choose (which bound, `receipt-id`, no traceback) are checked on ours only.
"""

from __future__ import annotations

import re
import select

import pytest

from tests.interop.support import (
    RawClient,
    assert_error_frame,
    assert_still_serving,
    comet_only,
)

MIB = 1 << 20


def _expect_error_then_close(client: RawClient, broker) -> None:
    assert_error_frame(client.read_frame(), broker)
    if broker.closes_after_error:
        assert client.wait_closed(), "the connection stayed open after the ERROR"
    assert_still_serving(broker)


@pytest.mark.parametrize("garbage", [
    b"HELLO WORLD\n\n\x00",
    b"\x01\x02\x03garbage\xff\xfe\n\n\x00",
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n\x00",
])
def test_garbage_instead_of_connect(raw, broker, garbage):
    client = raw()
    client.send(garbage)
    _expect_error_then_close(client, broker)


def test_a_frame_before_connect(raw, broker, dest):
    client = raw()
    client.send(f"SEND\ndestination:{dest.queue()}\n\nsneaky\x00")
    _expect_error_then_close(client, broker)


def test_an_unknown_command(raw, broker):
    client = raw()
    client.connect()
    client.send(b"FROBNICATE\nx:y\n\n\x00")
    _expect_error_then_close(client, broker)


def test_send_without_destination(raw, broker):
    client = raw()
    client.connect()
    client.send(b"SEND\n\nwhere to?\x00")
    _expect_error_then_close(client, broker)


@pytest.mark.parametrize("value", [b"b\\tad", b"trailing\\", b"b\\x41d"])
def test_an_undefined_escape_in_1_2_ends_the_connection(raw, broker, dest, value):
    client = raw()
    client.connect("1.2")
    client.send(b"SEND\ndestination:" + dest.topic().encode() + b"\nx-h:" + value
                + b"\n\nbody\x00")
    if broker.is_comet:
        assert_error_frame(client.read_frame(), broker)
    # STOMP: an undefined escape is a fatal protocol error (RabbitMQ closes without ERROR).
    assert client.wait_closed(), "the connection stayed open after an undefined escape"
    assert_still_serving(broker)


# --- ours only: what STOMP leaves to the server --------------------------------------------


@comet_only
def test_error_carries_the_receipt_id_of_the_bad_frame(raw, broker):
    client = raw()
    client.connect()
    client.send(b"SEND\nreceipt:r-77\n\nno destination\x00")
    error = client.read_frame()
    assert_error_frame(error, broker)
    assert error.headers.get("receipt-id") == "r-77"
    assert client.wait_closed()


@comet_only
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_subscribe_without_id_is_an_error_from_1_1(raw, broker, dest, version):
    client = raw()
    client.connect(version)
    client.send(f"SUBSCRIBE\ndestination:{dest.topic()}\n\n\x00")
    _expect_error_then_close(client, broker)


@comet_only
def test_1_0_takes_backslashes_literally(raw, broker, dest):
    topic = dest.topic()
    client = raw()
    client.connect("1.0")
    client.send(f"SUBSCRIBE\nid:1\ndestination:{topic}\nreceipt:s\n\n\x00")
    assert client.read_frame().headers["receipt-id"] == "s"
    client.send(b"SEND\ndestination:" + topic.encode() + b"\nx-h:a\\tb\n\nbody\x00")
    frame = client.read_frame()
    assert frame.command == "MESSAGE"
    assert frame.headers["x-h"] == "a\\tb"


def _send_until_answered(client: RawClient, chunks) -> None:
    """Write chunks until the broker answers or hangs up (then stop: no RST over its ERROR)."""
    for chunk in chunks:
        readable, _, _ = select.select([client.sock], [], [], 0)
        if readable:
            return
        try:
            client.sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return


@comet_only
def test_a_declared_length_past_the_bound(raw, broker, dest):
    client = raw()
    client.connect()
    client.send(f"SEND\ndestination:{dest.queue()}\ncontent-length:{64 * MIB}\n\n".encode()
                + b"x" * 1000)
    error = client.read_frame()
    assert_error_frame(error, broker)
    assert re.search(r"large|size", error.headers["message"]), error
    assert client.wait_closed()
    assert_still_serving(broker)


@comet_only
def test_a_body_that_never_ends(raw, broker, dest):
    client = raw()
    client.connect()
    client.send(f"SEND\ndestination:{dest.queue()}\n\n")
    _send_until_answered(client, (b"y" * 65536 for _ in range(64 * MIB // 65536)))
    error = client.read_frame()
    assert_error_frame(error, broker)
    assert re.search(r"large|size", error.headers["message"]), error
    assert client.wait_closed()
    assert_still_serving(broker)


@comet_only
def test_too_many_headers(raw, broker, dest):
    client = raw()
    client.connect()
    headers = "".join(f"x-{i}:{i}\n" for i in range(10_000))
    client.send(f"SEND\ndestination:{dest.queue()}\n{headers}\nbody\x00")
    error = client.read_frame()
    assert_error_frame(error, broker)
    assert "headers" in error.headers["message"], error
    assert client.wait_closed()


@comet_only
def test_a_header_line_that_never_ends(raw, broker, dest):
    client = raw()
    client.connect()
    client.send(f"SEND\ndestination:{dest.queue()}\nx-long:")
    _send_until_answered(client, (b"z" * 65536 for _ in range(64 * MIB // 65536)))
    error = client.read_frame()
    assert_error_frame(error, broker)
    assert re.search(r"long|length", error.headers["message"]), error
    assert client.wait_closed()
