"""Raw sockets: CONNECT and version negotiation, line endings, chunking, header rules."""

from __future__ import annotations

import socket

import pytest

from tests.interop.support import RawClient, assert_error_frame, assert_still_serving


@pytest.mark.parametrize(("offered", "agreed"), [
    ("1.0,1.1,1.2", "1.2"),
    ("1.2,1.0", "1.2"),
    ("1.0,1.1", "1.1"),
    ("1.1", "1.1"),
    ("1.0", "1.0"),
    ("1.1,9.9", "1.1"),
])
def test_the_highest_common_version_is_chosen(raw, offered, agreed):
    assert raw().connect(offered).headers["version"] == agreed


def test_connect_without_accept_version_is_stomp_1_0(raw, broker):
    client = raw()
    client.send(f"CONNECT\nlogin:{broker.login}\npasscode:{broker.passcode}\n\n\x00")
    connected = client.read_frame()
    assert connected.command == "CONNECTED"
    assert connected.headers.get("version", "1.0") == "1.0"


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_the_stomp_command_connects_too(raw, broker, line_end):
    client = raw()
    frame = (f"STOMP\naccept-version:1.2\nhost:{broker.vhost}\nlogin:{broker.login}\n"
             f"passcode:{broker.passcode}\n\n\x00")
    client.send(frame.replace("\n", line_end))
    connected = client.read_frame()
    assert (connected.command, connected.headers["version"]) == ("CONNECTED", "1.2")


def test_no_common_version_is_an_error(raw, broker):
    client = raw()
    client.send(f"CONNECT\naccept-version:2.0,3.1\nhost:{broker.vhost}\n"
                f"login:{broker.login}\npasscode:{broker.passcode}\n\n\x00")
    error = client.read_frame()
    assert_error_frame(error, broker)
    # STOMP: the ERROR frame should name the versions the server speaks.
    assert {"1.0", "1.1", "1.2"} & set(error.headers["version"].split(","))
    if broker.closes_after_error:
        assert client.wait_closed()
    assert_still_serving(broker)


def _subscribed(raw, topic: str) -> RawClient:
    client = raw()
    client.connect("1.2")
    client.send(f"SUBSCRIBE\nid:1\ndestination:{topic}\nreceipt:sub\n\n\x00")
    assert client.read_frame().headers["receipt-id"] == "sub"
    return client


def test_a_frame_written_one_byte_at_a_time(raw, dest):
    topic = dest.topic()
    client = _subscribed(raw, topic)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    frame = f"SEND\r\ndestination:{topic}\r\ncontent-length:3\r\n\r\na\x00b\x00\n\n".encode()
    for i in range(len(frame)):
        client.send(frame[i:i + 1])
    message = client.read_frame()
    assert (message.command, message.body) == ("MESSAGE", b"a\x00b")


def test_repeated_header_first_one_wins(raw, dest):
    topic = dest.topic()
    client = _subscribed(raw, topic)
    client.send(f"SEND\ndestination:{topic}\nx-h:first\nx-h:second\n\nbody\x00")
    assert client.read_frame().headers["x-h"] == "first"  # the reader keeps the first, too


def test_header_values_are_not_trimmed(raw, dest):
    topic = dest.topic()
    client = _subscribed(raw, topic)
    client.send(f"SEND\ndestination:{topic}\nx-h: spaced \n\nbody\x00")
    assert client.read_frame().headers["x-h"] == " spaced "
