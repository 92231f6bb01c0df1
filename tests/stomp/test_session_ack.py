"""Acknowledgement: auto, client (cumulative), client-individual; NACK; redelivery; windows."""

from __future__ import annotations

import pytest

from comet_core.hub import Hub
from comet_core.stomp.session import SessionLimits
from tests.stomp.session_support import Clock, connected


def fill(hub: Hub, clock: Clock, destination: str, bodies: list[bytes]) -> None:
    sender = connected(hub, clock)
    for body in bodies:
        sender.publish(destination, body)


def ack_headers(version: str, message, sub_id: str = "s1") -> dict[str, str]:
    if version == "1.2":
        return {"id": message.get("ack")}
    if version == "1.1":
        return {"message-id": message.get("message-id"), "subscription": sub_id}
    return {"message-id": message.get("message-id")}


def test_auto_mode_needs_no_ack_and_has_no_ack_header(hub, clock):
    consumer = connected(hub, clock)
    consumer.subscribe("/queue/q")
    fill(hub, clock, "/queue/q", [b"a"])
    [message] = consumer.messages()
    assert message.get("ack") is None
    consumer.send("ACK", {"id": "1.whatever"})
    assert consumer.error().get("message") == "unknown ack id"


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_each_version_names_the_message_it_acknowledges_its_own_way(hub, clock, version):
    consumer = connected(hub, clock, version)
    consumer.subscribe("/queue/q", ack="client-individual")
    fill(hub, clock, "/queue/q", [b"a"])
    [message] = consumer.messages()
    assert (message.get("ack") is not None) == (version == "1.2")
    consumer.send("ACK", {**ack_headers(version, message), "receipt": "r"})
    consumer.expect("RECEIPT")
    consumer.session.connection_lost()
    assert not hub.queues  # acknowledged: nothing to redeliver


def test_stomp_1_1_ack_needs_the_subscription(hub, clock):
    consumer = connected(hub, clock, "1.1")
    consumer.subscribe("/queue/q", ack="client")
    fill(hub, clock, "/queue/q", [b"a"])
    [message] = consumer.messages()
    consumer.send("ACK", {"message-id": message.get("message-id")})
    assert consumer.error().get("message") == "missing header 'subscription'"


def test_acknowledging_twice_is_an_error(hub, clock):
    consumer = connected(hub, clock)
    consumer.subscribe("/queue/q", ack="client-individual")
    fill(hub, clock, "/queue/q", [b"a"])
    [message] = consumer.messages()
    consumer.send("ACK", {"id": message.get("ack")})
    consumer.send("ACK", {"id": message.get("ack"), "receipt": "again"})
    error = consumer.error()
    assert error.get("message") == "unknown ack id"
    assert error.get("receipt-id") == "again"


def test_client_mode_is_cumulative(hub, clock):
    consumer, other = connected(hub, clock), connected(hub, clock)
    consumer.subscribe("/queue/q", ack="client")
    fill(hub, clock, "/queue/q", [b"1", b"2", b"3", b"4"])
    messages = consumer.messages()
    consumer.send("ACK", {"id": messages[2].get("ack")})  # settles 1, 2 and 3
    consumer.session.connection_lost()
    other.subscribe("/queue/q")
    [redelivered] = other.messages()
    assert redelivered.body == b"4"
    assert redelivered.get("redelivered") == "true"


def test_client_individual_mode_settles_one_message(hub, clock):
    consumer, other = connected(hub, clock), connected(hub, clock)
    consumer.subscribe("/queue/q", ack="client-individual")
    fill(hub, clock, "/queue/q", [b"1", b"2", b"3"])
    messages = consumer.messages()
    consumer.send("ACK", {"id": messages[1].get("ack")})
    consumer.send("UNSUBSCRIBE", {"id": "s1"})
    other.subscribe("/queue/q")
    assert [m.body for m in other.messages()] == [b"1", b"3"]


def test_a_nacked_queue_message_goes_to_the_next_subscriber_marked_redelivered(hub, clock):
    one, two = connected(hub, clock), connected(hub, clock)
    one.subscribe("/queue/q", ack="client-individual")
    two.subscribe("/queue/q", ack="client-individual")
    fill(hub, clock, "/queue/q", [b"job"])
    [message] = one.messages()
    assert message.get("redelivered") is None
    one.send("NACK", {"id": message.get("ack"), "receipt": "n"})
    one.expect("RECEIPT")
    [again] = two.messages()
    assert again.body == b"job" and again.get("redelivered") == "true"
    assert again.get("message-id") == message.get("message-id")


def test_a_lone_subscriber_gets_its_nacked_message_back(hub, clock):
    consumer = connected(hub, clock, "1.1")
    consumer.subscribe("/queue/q", ack="client")
    fill(hub, clock, "/queue/q", [b"1", b"2"])
    first, second = consumer.messages()
    consumer.send("NACK", {"message-id": second.get("message-id"), "subscription": "s1"})
    assert [m.body for m in consumer.messages()] == [b"1", b"2"]  # cumulative NACK


def test_a_nacked_topic_message_is_dropped(hub, clock):
    consumer = connected(hub, clock)
    consumer.subscribe("/topic/t", ack="client-individual")
    fill(hub, clock, "/topic/t", [b"x"])
    [message] = consumer.messages()
    consumer.send("NACK", {"id": message.get("ack"), "receipt": "n"})
    assert [f.command for f in consumer.read()] == ["RECEIPT"]


def test_a_consumer_that_leaves_without_acknowledging_has_its_messages_redelivered(hub, clock):
    leaver, stayer = connected(hub, clock), connected(hub, clock)
    leaver.subscribe("/queue/q", ack="client-individual")
    fill(hub, clock, "/queue/q", [b"1", b"2"])
    assert len(leaver.messages()) == 2
    stayer.subscribe("/queue/q", ack="client-individual")
    assert stayer.read() == []
    leaver.session.connection_lost("gone")
    again = stayer.messages()
    assert [m.body for m in again] == [b"1", b"2"]
    assert all(m.get("redelivered") == "true" for m in again)


def test_the_prefetch_window_bounds_what_a_queue_hands_out(hub, clock):
    consumer = connected(hub, clock)
    consumer.subscribe("/queue/q", ack="client-individual", **{"prefetch-count": "2"})
    fill(hub, clock, "/queue/q", [str(n).encode() for n in range(5)])
    first = consumer.messages()
    assert [m.body for m in first] == [b"0", b"1"]
    assert hub.stats()["queued_messages"] == 3
    consumer.send("ACK", {"id": first[0].get("ack")})
    assert [m.body for m in consumer.messages()] == [b"2"]


def test_the_default_window_comes_from_the_limits(hub, clock):
    consumer = connected(hub, clock, limits=SessionLimits(prefetch=3))
    consumer.subscribe("/queue/q", ack="client")
    fill(hub, clock, "/queue/q", [b"x"] * 10)
    assert len(consumer.messages()) == 3


def test_a_full_window_sends_the_next_message_to_another_subscriber(hub, clock):
    slow, fast = connected(hub, clock), connected(hub, clock)
    slow.subscribe("/queue/q", ack="client-individual", **{"prefetch-count": "1"})
    fast.subscribe("/queue/q")
    fill(hub, clock, "/queue/q", [b"1", b"2", b"3", b"4"])
    assert [m.body for m in slow.messages()] == [b"1"]
    assert [m.body for m in fast.messages()] == [b"2", b"3", b"4"]


def test_a_topic_subscriber_that_never_acknowledges_is_a_slow_consumer(hub, clock):
    consumer = connected(hub, clock, limits=SessionLimits(max_unacked=5))
    consumer.subscribe("/topic/t", ack="client")
    fill(hub, clock, "/topic/t", [b"x"] * 6)
    frames = consumer.read()
    assert [f.command for f in frames] == ["ERROR"]  # the unsent backlog is dropped
    assert frames[0].get("message") == "slow consumer"
    assert consumer.session.closed
