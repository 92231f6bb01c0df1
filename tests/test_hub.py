"""The hub on its own: names, topics, queues, bounds, gates, shared MESSAGE encoding."""

from __future__ import annotations

import pytest

from comet_core.flow import Gate
from comet_core.hub import DestinationError, Hub, HubLimits, Message, QueueFull
from comet_core.stomp.frames import FrameParser


class FakeConsumer:
    """A consumer that records what it gets; `room` says how many more it will take."""

    def __init__(self, destination: str, room: int = 1_000_000, congested: bool = False):
        self.destination = destination
        self.gate = Gate()
        self.unacked: dict[str, Message | None] | None = {}
        self.got: list[Message] = []
        self.room = room
        self.congested = congested

    def deliver(self, message: Message) -> bool:
        self.got.append(message)
        return self.congested

    def ready(self) -> bool:
        return self.room > 0

    def take(self, message: Message) -> None:
        self.room -= 1
        self.got.append(message)
        assert self.unacked is not None
        self.unacked[message.message_id] = message


class FakePublisher:
    def __init__(self) -> None:
        self.gates: set[Gate] = set()
        self.opened = 0

    def wait_at(self, gate: Gate) -> None:
        self.gates.add(gate)

    def gate_opened(self, gate: Gate) -> None:
        self.gates.discard(gate)
        self.opened += 1


def bodies(consumer: FakeConsumer) -> list[bytes]:
    return [m.body for m in consumer.got]


def test_names_choose_the_kind():
    hub = Hub()
    assert hub.kind("/topic/a") == "topic"
    assert hub.kind("/queue/a/b") == "queue"
    for bad in ("/topics/a", "a", "", "/queue", "/exchange/amq.topic"):
        with pytest.raises(DestinationError, match="unknown destination"):
            hub.kind(bad)
    for empty in ("/topic/", "/queue/"):
        with pytest.raises(DestinationError, match="empty destination name"):
            hub.kind(empty)
    with pytest.raises(DestinationError, match="bad destination name"):
        hub.kind("/topic/a\tb")
    assert Hub(HubLimits(other_destinations="queue")).kind("jobs") == "queue"
    assert Hub(HubLimits(other_destinations="topic")).kind("chat") == "topic"


def test_a_topic_fans_out_one_shared_message_and_forgets_its_last_subscriber():
    hub = Hub()
    a, b = FakeConsumer("/topic/t"), FakeConsumer("/topic/t")
    ta, tb = hub.subscribe(a), hub.subscribe(b)
    assert ta is tb
    message = hub.publish("/topic/t", [("k", "v")], b"body")
    assert a.got == [message] and b.got == [message]
    hub.unsubscribe(a, ta)
    hub.publish("/topic/t", [], b"2")
    assert bodies(a) == [b"body"] and bodies(b) == [b"body", b"2"]
    hub.unsubscribe(b, tb)
    assert hub.topics == {}


def test_a_congested_topic_subscriber_makes_the_publisher_wait_at_its_gate():
    hub = Hub()
    consumer = FakeConsumer("/topic/t", congested=True)
    hub.subscribe(consumer)
    publisher = FakePublisher()
    hub.publish("/topic/t", [], b"x", publisher)
    assert publisher.gates == {consumer.gate}
    consumer.gate.open()
    assert publisher.gates == set() and publisher.opened == 1


def test_an_expired_gate_holds_nobody_until_it_opens():
    gate, publisher = Gate(), FakePublisher()
    gate.hold(publisher)
    gate.expire()
    assert publisher.gates == set() and gate.armed
    gate.hold(publisher)
    assert publisher.gates == set()
    gate.open()
    assert not gate.armed
    gate.hold(publisher)
    assert publisher.gates == {gate}


def test_a_queue_takes_turns_and_skips_those_not_ready():
    hub = Hub()
    one, two, full = (FakeConsumer("/queue/q"), FakeConsumer("/queue/q"),
                      FakeConsumer("/queue/q", room=0))
    for consumer in (one, full, two):
        hub.subscribe(consumer)
    for n in range(4):
        hub.publish("/queue/q", [], str(n).encode())
    assert bodies(one) == [b"0", b"2"] and bodies(two) == [b"1", b"3"] and full.got == []


def test_a_queue_stores_until_a_consumer_is_ready_and_then_forgets_itself():
    hub = Hub()
    for n in range(3):
        hub.publish("/queue/q", [], str(n).encode())
    assert hub.stats()["queued_messages"] == 3 and hub.queued_bytes > 0
    consumer = FakeConsumer("/queue/q", room=2)
    queue = hub.subscribe(consumer)
    queue.pump()
    assert bodies(consumer) == [b"0", b"1"]
    consumer.room = 5
    queue.pump()
    assert bodies(consumer) == [b"0", b"1", b"2"]
    assert hub.queued_bytes == 0
    consumer.unacked = {}
    hub.unsubscribe(consumer, queue)
    assert hub.queues == {}


def test_unacknowledged_messages_return_to_the_front_marked_redelivered():
    hub = Hub()
    leaver = FakeConsumer("/queue/q", room=2)
    queue = hub.subscribe(leaver)
    for n in range(3):
        hub.publish("/queue/q", [], str(n).encode())
    assert bodies(leaver) == [b"0", b"1"]
    first = leaver.got[0]
    plain = first.encoded("1.2")
    hub.unsubscribe(leaver, queue)
    assert [m.body for m in queue.messages] == [b"0", b"1", b"2"]
    assert first.redelivered and b"redelivered:true\n" in first.encoded("1.2")
    assert b"redelivered" not in plain
    assert not queue.messages[2].redelivered


def test_queue_bounds_refuse_and_never_drop_silently():
    hub = Hub(HubLimits(max_queue_messages=2))
    hub.publish("/queue/q", [], b"1")
    hub.publish("/queue/q", [], b"2")
    with pytest.raises(QueueFull, match="queue full"):
        hub.publish("/queue/q", [], b"3")
    assert [m.body for m in hub.queues["/queue/q"].messages] == [b"1", b"2"]


def test_a_fresh_queue_refusing_its_first_message_is_not_kept():
    hub = Hub(HubLimits(max_queue_bytes=100))
    with pytest.raises(QueueFull):
        hub.publish("/queue/big", [], b"x" * 1000)
    assert hub.queues == {} and hub.queued_bytes == 0


def test_a_message_is_encoded_once_per_version_and_spliced_per_subscriber():
    message = Message("/topic/t", "id-1", [("content-type", "text/plain"), ("k", "a:b")],
                      b"hello")
    shared = message.encoded("1.2")
    assert message.encoded("1.2") is shared
    assert message.encoded("1.0") is not shared
    frame = b"MESSAGE\nsubscription:7\n" + shared
    [parsed] = FrameParser(version="1.2").feed(frame)
    assert parsed.get("subscription") == "7" and parsed.get("k") == "a:b"
    assert parsed.get("content-length") == "5" and parsed.body == b"hello"
    [old] = FrameParser(version="1.0").feed(b"MESSAGE\nsubscription:7\n"
                                            + message.encoded("1.0"))
    assert old.get("k") == "a:b"


def test_stats_count_what_there_is():
    hub = Hub()
    hub.subscribe(FakeConsumer("/topic/a"))
    hub.subscribe(FakeConsumer("/queue/b"))
    hub.publish("/queue/c", [], b"x")
    stats = hub.stats()
    assert stats["topics"] == 1 and stats["queues"] == 2
    assert stats["topic_subscribers"] == 1 and stats["queue_subscribers"] == 1
    assert stats["queued_messages"] == 1
