"""RECEIPT for every client frame that asks, and DISCONNECT's receipt comes last."""

from __future__ import annotations

import pytest

from tests.interop.support import VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_every_frame_that_asks_gets_its_receipt(connect, dest, version):
    client = connect(version)
    topic, q = dest.topic(), dest.queue()
    asked: list[str] = []

    def r() -> str:
        asked.append(client.receipt())
        return asked[-1]

    client.conn.subscribe(topic, id="t", receipt=r())
    client.conn.send(topic, "hello", receipt=r())
    assert client.rec.next_message().body == "hello"
    client.conn.unsubscribe(id="t", receipt=r())
    tx = client.conn.begin(receipt=r())
    client.conn.commit(tx, receipt=r())
    tx = client.conn.begin(receipt=r())
    client.conn.abort(tx, receipt=r())
    client.conn.send(q, "job", receipt=r())
    client.conn.subscribe(q, id="q", ack="client", receipt=r())
    client.ack(client.rec.next_message(), receipt=r())
    for receipt in asked:
        client.rec.wait_receipt(receipt)
    assert client.rec.errors.empty(), client.rec.describe_errors()


@pytest.mark.parametrize("version", VERSIONS)
def test_disconnect_receipt_means_everything_before_it_was_handled(connect, dest, version):
    q = dest.queue()
    producer = connect(version)
    for i in range(50):
        producer.conn.send(q, f"job {i}")  # no receipts: only DISCONNECT's vouches for them
    r = producer.receipt()
    producer.conn.disconnect(receipt=r)
    producer.rec.wait_receipt(r)

    consumer = connect(version)
    consumer.subscribe(q)
    assert consumer.rec.bodies(50) == [f"job {i}" for i in range(50)]
