"""stomp.py at STOMP 1.0, 1.1 and 1.2: topics, queues and the three acknowledgement modes."""

from __future__ import annotations

import queue

import pytest

from tests.interop.support import TIMEOUT, VERSIONS, Forward, comet_only

ACKING_VERSIONS = ["1.1", "1.2"]  # client-individual and NACK arrived with STOMP 1.1


@pytest.mark.parametrize("version", VERSIONS)
def test_topic_gives_every_message_to_every_subscriber(connect, dest, version):
    topic = dest.topic()
    alice, bob, publisher = connect(version), connect(version), connect(version)
    alice.subscribe(topic, "a")
    bob.subscribe(topic, "b")

    for i in range(3):
        publisher.send(topic, f"tick {i}")

    for client, sub_id in ((alice, "a"), (bob, "b")):
        frames = [client.rec.next_message() for _ in range(3)]
        assert [f.body for f in frames] == ["tick 0", "tick 1", "tick 2"]
        for f in frames:
            assert f.headers["destination"] == topic
            assert f.headers["message-id"]
            if version != "1.0":
                assert f.headers["subscription"] == sub_id
        assert len({f.headers["message-id"] for f in frames}) == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_topic_forgets_messages_nobody_was_subscribed_to(connect, dest, version):
    topic = dest.topic()
    client = connect(version)
    client.send(topic, "before anyone listened")
    client.subscribe(topic)
    client.send(topic, "after")
    assert client.rec.next_message().body == "after"


@pytest.mark.parametrize("version", VERSIONS)
def test_unsubscribe_stops_delivery(connect, dest, version):
    topic, marker = dest.topic(), dest.topic()
    client = connect(version)
    client.subscribe(topic, "gone")
    client.subscribe(marker, "stays")
    client.unsubscribe("gone")
    client.send(topic, "nobody hears this")
    client.send(marker, "marker")
    frame = client.rec.next_message()
    assert (frame.headers["destination"], frame.body) == (marker, "marker")


@pytest.mark.parametrize("version", VERSIONS)
def test_binary_body_with_nul_octets_round_trips(connect, dest, version):
    topic = dest.topic()
    client = connect(version, auto_decode=False)
    client.subscribe(topic)
    body = bytes(range(256)) * 4  # NULs, CR, LF and non-UTF-8 octets
    client.send(topic, body, **{"content-type": "application/octet-stream"})
    frame = client.rec.next_message()
    assert frame.body == body
    assert frame.headers["content-length"] == str(len(body))


@pytest.mark.parametrize("version", ACKING_VERSIONS)
def test_user_headers_survive_escaping(connect, dest, version):
    topic = dest.topic()
    client = connect(version)
    client.subscribe(topic)
    value = "colon: newline\nbackslash\\ end"
    client.send(topic, "x", **{"x-tricky": value})
    assert client.rec.next_message().headers["x-tricky"] == value


@pytest.mark.parametrize("version", VERSIONS)
def test_queue_keeps_messages_until_a_consumer_comes(connect, dest, version):
    q = dest.queue()
    producer = connect(version)
    for i in range(3):
        producer.send(q, f"job {i}")
    consumer = connect(version)
    consumer.subscribe(q)
    assert consumer.rec.bodies(3) == ["job 0", "job 1", "job 2"]


def _merge(*clients) -> queue.Queue[tuple[int, str]]:
    """One queue of (which consumer, body) for all of `clients`' messages."""
    merged: queue.Queue[tuple[int, str]] = queue.Queue()
    for i, client in enumerate(clients):
        client.conn.set_listener("merge", Forward(merged, i))
    return merged


def _take(merged: queue.Queue[tuple[int, str]], n: int) -> list[tuple[int, str]]:
    try:
        return [merged.get(timeout=TIMEOUT) for _ in range(n)]
    except queue.Empty:
        raise AssertionError(f"fewer than {n} messages within {TIMEOUT} s") from None


@pytest.mark.parametrize("version", VERSIONS)
def test_queue_gives_each_message_to_exactly_one_consumer(connect, dest, version):
    q, n = dest.queue(), 20
    first, second, producer = connect(version), connect(version), connect(version)
    merged = _merge(first, second)
    first.subscribe(q, "one")
    second.subscribe(q, "two")
    for i in range(n):
        producer.send(q, f"job {i}")
    got = _take(merged, n)
    assert sorted(body for _, body in got) == sorted(f"job {i}" for i in range(n))
    producer.send(q, "last")  # no copy of any job is still on its way
    assert _take(merged, 1)[0][1] == "last"


@comet_only
@pytest.mark.parametrize("version", VERSIONS)
def test_queue_spreads_messages_across_consumers(connect, dest, version):
    q = dest.queue()
    first, second, producer = connect(version), connect(version), connect(version)
    merged = _merge(first, second)
    first.subscribe(q, "one")
    second.subscribe(q, "two")
    for i in range(10):
        producer.send(q, f"job {i}")
    consumers = [who for who, _ in _take(merged, 10)]
    # STOMP does not say how to spread work; ours must not leave a consumer idle.
    assert consumers.count(0) >= 3 and consumers.count(1) >= 3, consumers


@pytest.mark.parametrize("version", ACKING_VERSIONS)
def test_client_individual_ack_redelivers_only_the_unacked(connect, dest, version):
    q = dest.queue()
    producer = connect(version)
    for i in range(3):
        producer.send(q, f"job {i}")

    consumer = connect(version)
    consumer.subscribe(q, ack="client-individual")
    frames = [consumer.rec.next_message() for _ in range(3)]
    assert [f.body for f in frames] == ["job 0", "job 1", "job 2"]
    consumer.ack(frames[0])
    consumer.ack(frames[2], receipt=consumer.receipt())
    consumer.close()  # leaves with "job 1" unacknowledged

    again = connect(version)
    again.subscribe(q, ack="client-individual")
    redelivered = again.rec.next_message()
    assert redelivered.body == "job 1"
    again.ack(redelivered)
    producer.send(q, "marker")
    assert again.rec.next_message().body == "marker"  # nothing else was left


@pytest.mark.parametrize("version", VERSIONS)
def test_client_ack_is_cumulative(connect, dest, version):
    q = dest.queue()
    producer = connect(version)
    for i in range(3):
        producer.send(q, f"job {i}")

    consumer = connect(version)
    consumer.subscribe(q, ack="client")
    frames = [consumer.rec.next_message() for _ in range(3)]
    assert [f.body for f in frames] == ["job 0", "job 1", "job 2"]
    consumer.ack(frames[1])  # acknowledges job 0 and job 1 together
    consumer.close()

    again = connect(version)
    again.subscribe(q, ack="client")
    redelivered = again.rec.next_message()
    assert redelivered.body == "job 2"
    again.ack(redelivered)
    producer.send(q, "marker")
    assert again.rec.next_message().body == "marker"


@pytest.mark.parametrize("version", ACKING_VERSIONS)
def test_nack_gives_the_message_again(connect, dest, version):
    q = dest.queue()
    producer = connect(version)
    producer.send(q, "try me")
    consumer = connect(version)
    consumer.subscribe(q, ack="client-individual")
    first = consumer.rec.next_message()
    consumer.nack(first)
    second = consumer.rec.next_message()
    assert second.body == "try me"
    consumer.ack(second)
    producer.send(q, "marker")
    assert consumer.rec.next_message().body == "marker"


@pytest.mark.parametrize("version", VERSIONS)
def test_auto_ack_does_not_redeliver(connect, dest, version):
    q = dest.queue()
    producer = connect(version)
    producer.send(q, "once")
    consumer = connect(version)
    consumer.subscribe(q)  # ack: auto
    assert consumer.rec.next_message().body == "once"
    consumer.close()
    again = connect(version)
    again.subscribe(q)
    producer.send(q, "marker")
    assert again.rec.next_message().body == "marker"


@pytest.mark.parametrize("version", ACKING_VERSIONS)
def test_unacked_message_goes_to_another_consumer_when_its_consumer_leaves(connect, dest,
                                                                           version):
    q = dest.queue()
    producer, leaving, staying = connect(version), connect(version), connect(version)
    leaving.subscribe(q, "a", ack="client-individual")
    producer.send(q, "job")
    assert leaving.rec.next_message().body == "job"
    staying.subscribe(q, "b", ack="client-individual")
    leaving.close()  # without acknowledging
    again = staying.rec.next_message()
    assert again.body == "job"
    assert again.headers["subscription"] == "b"
    staying.ack(again)
