"""Bounds: a slow consumer cannot make the broker's memory grow; flow control for publishers."""

from __future__ import annotations

from comet_core.hub import Hub, HubLimits
from comet_core.stomp.session import SessionLimits
from tests.stomp.session_support import Client, connected

SMALL = SessionLimits(outbound_soft=1000, outbound_hard=5000, flow_timeout=1.0)
BODY = b"x" * 400




def test_a_publisher_waits_while_a_topic_subscriber_catches_up(hub, clock):
    slow = connected(hub, clock, limits=SMALL)
    slow.subscribe("/topic/t")
    fast = connected(hub, clock)
    fast.subscribe("/topic/t")
    publisher = connected(hub, clock)
    publisher.raw(b"".join(b"SEND\ndestination:/topic/t\n\n" + BODY + b"\0" for _ in range(6)))
    # Three messages put the slow session over its soft bound; the publisher then waits.
    assert publisher.session.reading_paused
    assert len(fast.messages()) == 3
    assert slow.session.pending_output > SMALL.outbound_soft
    wakeups = publisher.wakeups
    assert len(slow.messages()) == 3  # the slow client reads: the gate opens
    assert not publisher.session.reading_paused and publisher.wakeups > wakeups
    publisher.session.resume()  # what the adapter does when woken
    assert len(fast.messages()) == 3
    assert len(slow.messages()) == 3


def test_a_stuck_topic_subscriber_is_dropped_once_the_wait_times_out(hub, clock):
    stuck = connected(hub, clock, limits=SMALL)
    stuck.subscribe("/topic/t")
    fast = connected(hub, clock)
    fast.subscribe("/topic/t")
    publisher = connected(hub, clock, limits=SMALL)
    publisher.raw(b"".join(b"SEND\ndestination:/topic/t\n\n" + BODY + b"\0" for _ in range(30)))
    assert publisher.session.reading_paused
    assert publisher.session.next_deadline() == clock.now + SMALL.flow_timeout
    clock.advance(SMALL.flow_timeout)
    publisher.session.tick()
    assert not publisher.session.reading_paused
    publisher.session.resume()
    # Past the hard bound the stuck session ends; its backlog is dropped, not kept.
    frames = stuck.read()
    assert [f.command for f in frames] == ["ERROR"]
    assert frames[0].get("message") == "slow consumer"
    assert stuck.session.closed and stuck.session.pending_output == 0
    assert len(fast.messages()) == 30  # everyone else got everything
    assert not publisher.session.closed


def test_the_wait_does_not_count_as_heart_beat_silence(hub, clock):
    slow = connected(hub, clock, limits=SMALL)
    slow.subscribe("/topic/t")
    publisher = Client(hub, clock, limits=SessionLimits(flow_timeout=60.0))
    publisher.connect("1.2", heart_beat="1000,0")
    publisher.raw(b"".join(b"SEND\ndestination:/topic/t\n\n" + BODY + b"\0" for _ in range(5)))
    assert publisher.session.reading_paused
    clock.advance(30.0)  # far past 2 x 1 s of silence, but we are not reading it
    publisher.session.tick()
    assert not publisher.session.closed
    slow.messages()
    clock.advance(1.0)
    publisher.session.tick()
    assert not publisher.session.closed  # the silence counts from the resumption


def test_queue_deliveries_pause_for_a_full_buffer_and_resume_when_it_drains(hub, clock):
    consumer = connected(hub, clock, limits=SMALL)
    consumer.subscribe("/queue/q")
    publisher = connected(hub, clock)
    for _ in range(10):
        publisher.publish("/queue/q", BODY)
    assert not publisher.session.reading_paused  # the queue is far from its bound
    assert consumer.session.pending_output <= SMALL.outbound_soft + 600
    waiting = hub.stats()["queued_messages"]
    assert waiting > 0
    received = len(consumer.messages())
    assert hub.stats()["queued_messages"] < waiting  # draining pumped the queue
    while hub.stats()["queued_messages"]:
        received += len(consumer.messages())
    received += len(consumer.messages())
    assert received == 10 and not consumer.session.closed


def test_a_publisher_waits_while_a_queue_with_subscribers_is_over_half_full(clock):
    hub = Hub(HubLimits(max_queue_messages=8))
    consumer = connected(hub, clock)
    consumer.subscribe("/queue/q", ack="client-individual", **{"prefetch-count": "1"})
    publisher = connected(hub, clock)
    for n in range(6):
        publisher.publish("/queue/q", str(n).encode())
    assert publisher.session.reading_paused  # 5 waiting > 8 // 2
    publisher.publish("/queue/q", b"held")
    assert len(hub.queues["/queue/q"].messages) == 5
    for _ in range(3):
        [message] = consumer.messages()
        consumer.send("ACK", {"id": message.get("ack")})
    assert not publisher.session.reading_paused  # down to 2 <= 8 // 4
    publisher.session.resume()
    assert len(hub.queues["/queue/q"].messages) == 3


def test_a_queue_without_subscribers_does_not_make_publishers_wait(clock):
    hub = Hub(HubLimits(max_queue_messages=4))
    publisher = connected(hub, clock)
    for n in range(4):
        publisher.publish("/queue/q", str(n).encode())
    assert not publisher.session.reading_paused
    publisher.publish("/queue/q", b"one too many")
    assert publisher.error().get("message") == "queue full"


def test_the_queue_byte_bounds_hold(clock):
    hub = Hub(HubLimits(max_queue_bytes=3000))
    publisher = connected(hub, clock)
    publisher.publish("/queue/q", b"x" * 2000)
    publisher.publish("/queue/q", b"x" * 2000)
    assert publisher.error().get("message") == "queue full"
    hub = Hub(HubLimits(max_queued_bytes=3000))
    publisher = connected(hub, clock)
    publisher.publish("/queue/a", b"x" * 2000)
    publisher.publish("/queue/b", b"x" * 2000)
    assert publisher.error().get("message") == "queue full"


def test_a_client_that_never_reads_its_receipts_is_a_slow_consumer(hub, clock):
    client = connected(hub, clock, limits=SessionLimits(outbound_hard=2000))
    for n in range(200):
        client.publish("/topic/nobody", b"", receipt=f"receipt-{n}")
        if client.session.closed:
            break
    assert client.error().get("message") == "slow consumer"


def test_what_arrives_while_waiting_is_bounded(hub, clock):
    slow = connected(hub, clock, limits=SMALL)
    slow.subscribe("/topic/t")
    publisher = connected(hub, clock, limits=SessionLimits(max_held_bytes=2000))
    publisher.raw(b"".join(b"SEND\ndestination:/topic/t\n\n" + BODY + b"\0" for _ in range(4)))
    assert publisher.session.reading_paused
    publisher.raw(b"SEND\ndestination:/topic/t\n\n" + b"y" * 1500 + b"\0")
    publisher.raw(b"SEND\ndestination:/topic/t\n\n" + b"y" * 1500 + b"\0")
    assert publisher.error().get("message") == "too much data ahead"


def test_subscriptions_per_connection_are_bounded(hub, clock):
    client = connected(hub, clock, limits=SessionLimits(max_subscriptions=2))
    client.subscribe("/topic/a", "1")
    client.subscribe("/topic/b", "2")
    client.send("SUBSCRIBE", {"id": "3", "destination": "/topic/c"})
    assert client.error().get("message") == "too many subscriptions"


def test_a_closing_slow_consumer_releases_its_waiting_publishers(hub, clock):
    slow = connected(hub, clock, limits=SMALL)
    slow.subscribe("/topic/t")
    publisher = connected(hub, clock)
    publisher.raw(b"".join(b"SEND\ndestination:/topic/t\n\n" + BODY + b"\0" for _ in range(4)))
    assert publisher.session.reading_paused
    slow.session.connection_lost()
    assert not publisher.session.reading_paused
