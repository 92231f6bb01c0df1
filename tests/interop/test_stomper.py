"""stomper, the Orbited-era frame builder, over a plain socket.

stomper builds STOMP 1.1 frames as text; a broker must take them as they are (no
content-length on SEND, an EOL after each NUL) and stomper must be able to read back what
the broker sends.
"""

from __future__ import annotations

import stomper

from tests.interop.support import RawClient


def _login(client: RawClient) -> None:
    b = client.broker
    client.send(stomper.connect(b.login, b.passcode, b.vhost))
    connected = client.read_frame()
    assert connected.command == "CONNECTED", connected
    assert connected.headers["version"] == "1.1"


def _with_receipt(frame_text: str, receipt: str) -> str:
    """Add a receipt header to a frame stomper built (its builders have no such argument)."""
    frame = stomper.Frame()
    frame.unpack(frame_text)
    frame.headers["receipt"] = receipt
    return frame.pack()


def test_stomper_subscribe_send_receive(raw, dest):
    topic = dest.topic()
    client = raw()
    _login(client)
    client.send(_with_receipt(stomper.subscribe(topic, "s1"), "sub"))
    assert client.read_frame().headers["receipt-id"] == "sub"

    client.send(stomper.send(topic, "hello from 2008"))
    frame = client.read_frame()
    assert frame.command == "MESSAGE"
    assert frame.body == b"hello from 2008"
    assert frame.headers["destination"] == topic
    assert frame.headers["subscription"] == "s1"

    # stomper can read what the broker wrote.
    unpacked = stomper.unpack_frame(frame.raw.decode())
    assert unpacked["cmd"] == "MESSAGE"
    assert unpacked["headers"]["destination"] == topic
    assert unpacked["body"] == "hello from 2008"


def test_stomper_client_individual_ack(raw, dest):
    q = dest.queue()
    producer, consumer = raw(), raw()
    _login(producer)
    _login(consumer)
    producer.send(_with_receipt(stomper.send(q, "job"), "sent"))
    assert producer.read_frame().headers["receipt-id"] == "sent"

    consumer.send(stomper.subscribe(q, "s1", ack="client-individual"))
    frame = consumer.read_frame()
    assert (frame.command, frame.body) == ("MESSAGE", b"job")
    ack = stomper.ack(frame.headers["message-id"], frame.headers["subscription"])
    consumer.send(_with_receipt(ack, "acked"))
    reply = consumer.read_frame()
    assert (reply.command, reply.headers.get("receipt-id")) == ("RECEIPT", "acked"), reply
    consumer.close()

    again = raw()
    _login(again)
    again.send(stomper.subscribe(q, "s1", ack="client-individual"))
    producer.send(stomper.send(q, "marker"))
    assert again.read_frame().body == b"marker"  # the acknowledged job did not come back


def test_stomper_transaction(raw, dest):
    topic = dest.topic()
    client = raw()
    _login(client)
    client.send(_with_receipt(stomper.subscribe(topic, "s1"), "sub"))
    assert client.read_frame().headers["receipt-id"] == "sub"
    client.send(stomper.begin("tx1"))
    client.send(stomper.send(topic, "committed", transactionid="tx1"))
    client.send(stomper.send(topic, "plain"))
    assert client.read_frame().body == b"plain"
    client.send(stomper.commit("tx1"))
    assert client.read_frame().body == b"committed"
