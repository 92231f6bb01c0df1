"""BEGIN, COMMIT, ABORT: SEND and ACK/NACK held until COMMIT, dropped on ABORT or a lost
connection."""

from __future__ import annotations

import pytest

from comet_core.hub import Hub, HubLimits
from comet_core.stomp.session import SessionLimits
from tests.stomp.session_support import connected


def test_sends_in_a_transaction_arrive_at_commit_in_order(hub, clock):
    listener, sender = connected(hub, clock), connected(hub, clock)
    listener.subscribe("/topic/t")
    sender.send("BEGIN", {"transaction": "tx"})
    sender.publish("/topic/t", b"1", transaction="tx")
    sender.publish("/topic/t", b"outside")
    sender.publish("/topic/t", b"2", transaction="tx")
    assert [m.body for m in listener.messages()] == [b"outside"]
    sender.send("COMMIT", {"transaction": "tx", "receipt": "c"})
    assert sender.expect("RECEIPT").get("receipt-id") == "c"
    messages = listener.messages()
    assert [m.body for m in messages] == [b"1", b"2"]
    assert all(m.get("transaction") is None for m in messages)


def test_abort_drops_the_sends(hub, clock):
    listener, sender = connected(hub, clock), connected(hub, clock)
    listener.subscribe("/queue/q")
    sender.send("BEGIN", {"transaction": "tx"})
    sender.publish("/queue/q", b"never", transaction="tx")
    sender.send("ABORT", {"transaction": "tx"})
    assert listener.read() == []
    sender.send("COMMIT", {"transaction": "tx"})  # it is gone
    assert sender.error().get("message") == "unknown transaction"


def test_a_lost_connection_aborts_its_transactions(hub, clock):
    listener, sender = connected(hub, clock), connected(hub, clock)
    listener.subscribe("/topic/t")
    sender.send("BEGIN", {"transaction": "tx"})
    sender.publish("/topic/t", b"never", transaction="tx")
    sender.session.connection_lost()
    assert listener.read() == []


def test_acks_in_a_transaction_take_effect_at_commit(hub, clock):
    consumer, other = connected(hub, clock), connected(hub, clock)
    consumer.subscribe("/queue/q", ack="client-individual")
    connected(hub, clock).publish("/queue/q", b"job")
    [message] = consumer.messages()
    consumer.send("BEGIN", {"transaction": "tx"})
    consumer.send("ACK", {"id": message.get("ack"), "transaction": "tx"})
    consumer.send("COMMIT", {"transaction": "tx"})
    consumer.session.connection_lost()
    other.subscribe("/queue/q")
    assert other.read() == []  # acknowledged for good


def test_aborted_acks_leave_the_message_unacknowledged(hub, clock):
    consumer, other = connected(hub, clock), connected(hub, clock)
    consumer.subscribe("/queue/q", ack="client-individual")
    connected(hub, clock).publish("/queue/q", b"job")
    [message] = consumer.messages()
    consumer.send("BEGIN", {"transaction": "tx"})
    consumer.send("ACK", {"id": message.get("ack"), "transaction": "tx"})
    consumer.send("ABORT", {"transaction": "tx"})
    consumer.session.connection_lost()
    other.subscribe("/queue/q")
    [again] = other.messages()
    assert again.body == b"job" and again.get("redelivered") == "true"


def test_a_nack_in_a_transaction_redelivers_at_commit(hub, clock):
    consumer, other = connected(hub, clock), connected(hub, clock)
    consumer.subscribe("/queue/q", ack="client-individual", **{"prefetch-count": "1"})
    connected(hub, clock).publish("/queue/q", b"job")
    [message] = consumer.messages()
    other.subscribe("/queue/q")
    consumer.send("BEGIN", {"transaction": "tx"})
    consumer.send("NACK", {"id": message.get("ack"), "transaction": "tx"})
    assert other.read() == []
    consumer.send("COMMIT", {"transaction": "tx"})
    assert [m.body for m in other.messages()] == [b"job"]


def test_begin_twice_is_an_error(hub, clock):
    client = connected(hub, clock)
    client.send("BEGIN", {"transaction": "tx"})
    client.send("BEGIN", {"transaction": "tx", "receipt": "r"})
    error = client.error()
    assert error.get("message") == "transaction already begun"
    assert error.get("receipt-id") == "r"


@pytest.mark.parametrize("command", ["COMMIT", "ABORT"])
def test_ending_an_unknown_transaction_is_an_error(hub, clock, command):
    client = connected(hub, clock)
    client.send(command, {"transaction": "nope"})
    assert client.error().get("message") == "unknown transaction"


def test_a_send_in_an_unknown_transaction_is_an_error(hub, clock):
    client = connected(hub, clock)
    client.publish("/topic/t", b"x", transaction="nope")
    assert client.error().get("message") == "unknown transaction"


def test_transactions_are_bounded(hub, clock):
    client = connected(hub, clock, limits=SessionLimits(max_transactions=2,
                                                        max_transaction_bytes=1000))
    client.send("BEGIN", {"transaction": "a"})
    client.send("BEGIN", {"transaction": "b"})
    client.send("BEGIN", {"transaction": "c"})
    assert client.error().get("message") == "too many transactions"
    client = connected(hub, clock, limits=SessionLimits(max_transaction_bytes=1000))
    client.send("BEGIN", {"transaction": "a"})
    client.publish("/topic/t", b"x" * 600, transaction="a")
    client.publish("/topic/t", b"x" * 600, transaction="a")
    assert client.error().get("message") == "transaction too large"


def test_a_queue_full_at_commit_is_an_error_after_the_frames_before_it(clock):
    hub = Hub(HubLimits(max_queue_messages=1))
    client = connected(hub, clock)
    client.send("BEGIN", {"transaction": "tx"})
    client.publish("/queue/q", b"1", transaction="tx")
    client.publish("/queue/q", b"2", transaction="tx")
    client.send("COMMIT", {"transaction": "tx", "receipt": "c"})
    error = client.error()
    assert error.get("message") == "queue full" and error.get("receipt-id") == "c"
    assert [m.body for m in hub.queues["/queue/q"].messages] == [b"1"]
