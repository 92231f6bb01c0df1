"""Transactions through stomp.py: BEGIN/COMMIT delivers, ABORT discards, ACKs included.

"Not delivered yet" is shown without waiting for nothing: a plain SEND to the same
destination after the transactional one arrives first, which it could not if the
transactional message had been delivered when it was sent.
"""

from __future__ import annotations

import pytest

from tests.interop.support import VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_commit_delivers_what_the_transaction_sent(connect, dest, version):
    topic = dest.topic()
    subscriber, publisher = connect(version), connect(version)
    subscriber.subscribe(topic)

    tx = publisher.conn.begin()
    publisher.conn.send(topic, "in the transaction", transaction=tx)
    publisher.conn.send(topic, "in the transaction, too", transaction=tx)
    publisher.send(topic, "outside it")
    assert subscriber.rec.next_message().body == "outside it"

    r = publisher.receipt()
    publisher.conn.commit(tx, receipt=r)
    publisher.rec.wait_receipt(r)
    assert subscriber.rec.bodies(2) == ["in the transaction", "in the transaction, too"]


@pytest.mark.parametrize("version", VERSIONS)
def test_abort_discards_what_the_transaction_sent(connect, dest, version):
    topic = dest.topic()
    subscriber, publisher = connect(version), connect(version)
    subscriber.subscribe(topic)

    tx = publisher.conn.begin()
    publisher.conn.send(topic, "never", transaction=tx)
    r = publisher.receipt()
    publisher.conn.abort(tx, receipt=r)
    publisher.rec.wait_receipt(r)
    publisher.send(topic, "after the abort")
    assert subscriber.rec.next_message().body == "after the abort"
    publisher.send(topic, "and again")
    assert subscriber.rec.next_message().body == "and again"


@pytest.mark.parametrize("version", VERSIONS)
def test_disconnect_aborts_an_open_transaction(connect, dest, version):
    topic = dest.topic()
    subscriber, publisher = connect(version), connect(version)
    subscriber.subscribe(topic)
    tx = publisher.conn.begin()
    publisher.conn.send(topic, "never", transaction=tx)
    publisher.close()

    other = connect(version)
    other.send(topic, "marker")
    assert subscriber.rec.next_message().body == "marker"


def _ack_mode(version: str) -> str:
    return "client" if version == "1.0" else "client-individual"


@pytest.mark.parametrize("version", VERSIONS)
def test_an_aborted_ack_leaves_the_message_unacknowledged(connect, dest, version):
    q = dest.queue()
    producer = connect(version)
    producer.send(q, "job")
    consumer = connect(version)
    consumer.subscribe(q, ack=_ack_mode(version))
    frame = consumer.rec.next_message()
    tx = consumer.conn.begin()
    consumer.ack(frame, transaction=tx)
    r = consumer.receipt()
    consumer.conn.abort(tx, receipt=r)
    consumer.rec.wait_receipt(r)
    consumer.close()

    again = connect(version)
    again.subscribe(q, ack=_ack_mode(version))
    redelivered = again.rec.next_message()
    assert redelivered.body == "job"
    again.ack(redelivered)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_committed_ack_holds(connect, dest, version):
    q = dest.queue()
    producer = connect(version)
    producer.send(q, "job")
    consumer = connect(version)
    consumer.subscribe(q, ack=_ack_mode(version))
    frame = consumer.rec.next_message()
    tx = consumer.conn.begin()
    consumer.ack(frame, transaction=tx)
    r = consumer.receipt()
    consumer.conn.commit(tx, receipt=r)
    consumer.rec.wait_receipt(r)
    consumer.close()

    again = connect(version)
    again.subscribe(q, ack=_ack_mode(version))
    producer.send(q, "marker")
    assert again.rec.next_message().body == "marker"
