"""SEND, SUBSCRIBE, UNSUBSCRIBE, MESSAGE, RECEIPT and DISCONNECT, through the hub."""

from __future__ import annotations

import pytest

from comet_core.hub import Hub, HubLimits
from tests.stomp.session_support import connected


def test_a_topic_message_reaches_every_subscriber_with_the_headers_stomp_wants(hub, clock):
    alice, bob, sender = (connected(hub, clock) for _ in range(3))
    alice.subscribe("/topic/news", "a-sub")
    bob.subscribe("/topic/news", "b-sub")
    body = b"binary\0body"
    sender.publish("/topic/news", body, **{"content-type": "application/octet-stream",
                                          "x-colour": "blue", "receipt": "r1",
                                          "content-length": str(len(body))})
    assert sender.expect("RECEIPT").get("receipt-id") == "r1"
    [a], [b] = alice.messages(), bob.messages()
    for frame, sub_id in ((a, "a-sub"), (b, "b-sub")):
        assert frame.body == body
        assert frame.get("destination") == "/topic/news"
        assert frame.get("subscription") == sub_id
        assert frame.get("content-type") == "application/octet-stream"
        assert frame.get("content-length") == str(len(body))
        assert frame.get("x-colour") == "blue"
        assert frame.get("receipt") is None and frame.get("ack") is None
    assert a.get("message-id") == b.get("message-id")


def test_message_ids_differ_between_messages(hub, clock):
    listener, sender = connected(hub, clock), connected(hub, clock)
    listener.subscribe("/topic/a")
    sender.publish("/topic/a", b"1")
    sender.publish("/topic/a", b"2")
    first, second = listener.messages()
    assert first.get("message-id") != second.get("message-id")


def test_a_topic_keeps_nothing_for_later_subscribers(hub, clock):
    sender = connected(hub, clock)
    sender.publish("/topic/empty", b"into the void", receipt="r")
    sender.expect("RECEIPT")
    late = connected(hub, clock)
    late.subscribe("/topic/empty")
    assert late.read() == []
    assert hub.stats()["topics"] == 1


def test_a_sender_subscribed_to_its_topic_gets_its_own_message(hub, clock):
    client = connected(hub, clock)
    client.subscribe("/topic/echo")
    client.publish("/topic/echo", b"me")
    assert [m.body for m in client.messages()] == [b"me"]


def test_unsubscribe_stops_the_messages(hub, clock):
    listener, sender = connected(hub, clock), connected(hub, clock)
    listener.subscribe("/topic/a", "s1")
    listener.send("UNSUBSCRIBE", {"id": "s1", "receipt": "u"})
    assert listener.expect("RECEIPT").get("receipt-id") == "u"
    sender.publish("/topic/a", b"x")
    assert listener.read() == []


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_subscribe_without_id_is_an_error_from_1_1(hub, clock, version):
    client = connected(hub, clock, version)
    client.send("SUBSCRIBE", {"destination": "/topic/a", "receipt": "r"})
    error = client.error()
    assert error.get("message") == "missing header 'id'"
    assert error.get("receipt-id") == "r"


def test_stomp_1_0_uses_the_destination_as_subscription_id(hub, clock):
    listener, sender = connected(hub, clock, "1.0"), connected(hub, clock)
    listener.send("SUBSCRIBE", {"destination": "/topic/a", "receipt": "r"})
    listener.expect("RECEIPT")
    sender.publish("/topic/a", b"x")
    [message] = listener.messages()
    assert message.get("subscription") == "/topic/a"
    listener.send("UNSUBSCRIBE", {"destination": "/topic/a", "receipt": "u"})
    listener.expect("RECEIPT")
    sender.publish("/topic/a", b"y")
    assert listener.read() == []


def test_a_duplicate_subscription_id_is_an_error(hub, clock):
    client = connected(hub, clock)
    client.subscribe("/topic/a", "same")
    client.send("SUBSCRIBE", {"id": "same", "destination": "/topic/b"})
    assert client.error().get("message") == "duplicate subscription id"


def test_an_unknown_subscription_id_is_an_error(hub, clock):
    client = connected(hub, clock)
    client.send("UNSUBSCRIBE", {"id": "nope", "receipt": "r"})
    error = client.error()
    assert error.get("message") == "unknown subscription"
    assert error.get("receipt-id") == "r"


@pytest.mark.parametrize(("command", "headers", "missing"), [
    ("SEND", {}, "destination"),
    ("SUBSCRIBE", {"id": "1"}, "destination"),
    ("UNSUBSCRIBE", {}, "id"),
    ("BEGIN", {}, "transaction"),
    ("COMMIT", {}, "transaction"),
    ("ABORT", {}, "transaction"),
    ("ACK", {}, "id"),
    ("NACK", {}, "id"),
])
def test_a_missing_required_header_is_an_error(hub, clock, command, headers, missing):
    client = connected(hub, clock)
    client.send(command, {**headers, "receipt": "r"})
    error = client.error()
    assert error.get("message") == f"missing header {missing!r}"
    assert error.get("receipt-id") == "r"


@pytest.mark.parametrize("destination", ["/exchange/x", "chat", "/topic/", "/queue/"])
def test_other_destination_names_are_refused(hub, clock, destination):
    client = connected(hub, clock)
    client.publish(destination, b"x", receipt="r")
    error = client.error()
    assert error.get("receipt-id") == "r"
    assert error.get("message") in ("unknown destination", "empty destination name")


def test_other_names_can_be_made_topics(clock):
    hub = Hub(HubLimits(other_destinations="topic"))
    listener, sender = connected(hub, clock), connected(hub, clock)
    listener.subscribe("chat")
    sender.publish("chat", b"hi")
    assert [m.body for m in listener.messages()] == [b"hi"]


def test_a_queue_gives_each_message_to_one_subscriber_in_turn(hub, clock):
    one, two, sender = connected(hub, clock), connected(hub, clock), connected(hub, clock)
    one.subscribe("/queue/work")
    two.subscribe("/queue/work")
    for n in range(6):
        sender.publish("/queue/work", str(n).encode())
    got_one = [m.body for m in one.messages()]
    got_two = [m.body for m in two.messages()]
    assert sorted(got_one + got_two) == [str(n).encode() for n in range(6)]
    assert len(got_one) == len(got_two) == 3


def test_a_queue_keeps_messages_until_someone_subscribes_then_receipt_first(hub, clock):
    sender = connected(hub, clock)
    for n in range(3):
        sender.publish("/queue/later", str(n).encode())
    assert hub.stats()["queued_messages"] == 3
    consumer = connected(hub, clock)
    consumer.send("SUBSCRIBE", {"id": "1", "destination": "/queue/later", "receipt": "s"})
    frames = consumer.read()
    assert [f.command for f in frames] == ["RECEIPT", "MESSAGE", "MESSAGE", "MESSAGE"]
    assert [f.body for f in frames[1:]] == [b"0", b"1", b"2"]
    assert hub.stats()["queued_messages"] == 0


def test_a_full_queue_refuses_the_send_with_an_error(clock):
    hub = Hub(HubLimits(max_queue_messages=2))
    sender = connected(hub, clock)
    sender.publish("/queue/small", b"1")
    sender.publish("/queue/small", b"2")
    sender.publish("/queue/small", b"3", receipt="r3")
    error = sender.error()
    assert error.get("message") == "queue full"
    assert error.get("receipt-id") == "r3"
    assert b"not stored" in error.body
    consumer = connected(hub, clock)
    consumer.send("SUBSCRIBE", {"id": "1", "destination": "/queue/small"})
    assert [m.body for m in consumer.messages()] == [b"1", b"2"]


def test_every_frame_with_a_receipt_header_gets_a_receipt(hub, clock):
    client = connected(hub, clock)
    client.send("SUBSCRIBE", {"id": "1", "destination": "/queue/q", "ack": "client",
                              "receipt": "r1"})
    client.send("SEND", {"destination": "/queue/q", "receipt": "r2"}, b"m")
    frames = client.read()
    assert [f.command for f in frames] == ["RECEIPT", "MESSAGE", "RECEIPT"]
    message = frames[1]
    steps = [
        ("ACK", {"id": message.get("ack"), "receipt": "r3"}),
        ("BEGIN", {"transaction": "t", "receipt": "r4"}),
        ("SEND", {"destination": "/queue/q", "transaction": "t", "receipt": "r5"}),
        ("ABORT", {"transaction": "t", "receipt": "r6"}),
        ("BEGIN", {"transaction": "t2", "receipt": "r7"}),
        ("COMMIT", {"transaction": "t2", "receipt": "r8"}),
        ("UNSUBSCRIBE", {"id": "1", "receipt": "r9"}),
        ("DISCONNECT", {"receipt": "r10"}),
    ]
    for command, headers in steps:
        client.send(command, headers)
        assert client.expect("RECEIPT").get("receipt-id") == headers["receipt"]
    assert client.session.closed


def test_a_receipt_id_is_escaped_for_the_clients_version(hub, clock):
    client = connected(hub, clock)
    client.raw(b"SUBSCRIBE\nid:1\ndestination:/topic/a\nreceipt:a\\cb\\nc\n\n\0")
    assert client.expect("RECEIPT").get("receipt-id") == "a:b\nc"


def test_disconnect_answers_after_everything_before_it_then_closes(hub, clock):
    listener, client = connected(hub, clock), connected(hub, clock)
    listener.subscribe("/queue/jobs")
    client.raw(b"SEND\ndestination:/queue/jobs\n\n1\0"
               b"SEND\ndestination:/queue/jobs\n\n2\0"
               b"DISCONNECT\nreceipt:bye\n\n\0"
               b"SEND\ndestination:/queue/jobs\n\nafter\0")
    assert client.expect("RECEIPT").get("receipt-id") == "bye"
    assert client.session.closed
    assert client.session.close_reason == "the client sent DISCONNECT"
    assert [m.body for m in listener.messages()] == [b"1", b"2"]


def test_disconnect_releases_the_subscriptions(hub, clock):
    client = connected(hub, clock)
    client.subscribe("/topic/a")
    client.send("DISCONNECT")
    assert hub.stats()["topic_subscribers"] == 0 and not hub.topics


def test_headers_a_version_cannot_carry_are_left_out_of_its_messages(hub, clock):
    old, new = connected(hub, clock, "1.0"), connected(hub, clock, "1.1")
    old.send("SUBSCRIBE", {"destination": "/topic/a"})
    new.subscribe("/topic/a")
    sender = connected(hub, clock, "1.2")
    sender.raw(b"SEND\ndestination:/topic/a\nlines:one\\ntwo\nplain:ok\n\nx\0")
    [to_old] = old.messages()
    [to_new] = new.messages()
    assert to_old.get("lines") is None and to_old.get("plain") == "ok"
    assert to_new.get("lines") == "one\ntwo"


def test_a_connection_lost_releases_everything(hub, clock):
    client = connected(hub, clock)
    client.subscribe("/topic/a", "1")
    client.subscribe("/queue/b", "2")
    client.session.connection_lost("peer went away")
    assert client.session.closed and client.session.close_reason == "peer went away"
    assert not hub.topics and not hub.queues
    assert client.session.data_to_send() == b""


def test_delivering_messages_leaves_no_reference_cycles_for_the_collector(hub, clock):
    import gc

    consumers = [connected(hub, clock, version) for version in ("1.0", "1.1", "1.2")]
    for n, consumer in enumerate(consumers):
        consumer.subscribe("/topic/t", ack="client-individual" if n else "auto")
        consumer.subscribe("/queue/q", "s2")
    sender = connected(hub, clock)
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            sender.publish("/topic/t", b"x", note="n")
            sender.publish("/queue/q", b"y")
            for consumer in consumers:
                consumer.read()
        assert gc.collect() == 0
    finally:
        gc.enable()
