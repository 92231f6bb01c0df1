"""The slow-consumer policy, sans-IO with a fake clock: a subscriber that stops reading can
hold up a topic for at most ``SessionLimits.slow_consumer_timeout`` (1 s by default).

The first test plays a whole minute of a real complaint: a publisher at 2,000 messages a
second, a healthy reader, and a new subscriber that never reads joining every 12 seconds.
The others check the rule's parts one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from comet_core.hub import Hub
from comet_core.stomp.frames import encode_frame
from comet_core.stomp.session import ServerSession, SessionLimits
from tests.stomp.session_support import Client, Clock, connected

#: The longest a healthy reader may go without a message while a publisher publishes:
#: the default of `SessionLimits.slow_consumer_timeout`.
DOCUMENTED_GAP = 1.0
STEP = 1 / 2000

BODY = b"x" * 400


@pytest.fixture
def small() -> SessionLimits:
    """Bounds turned down: three messages of `BODY` put a session over its soft bound."""
    return SessionLimits(outbound_soft=1000, outbound_hard=50_000, slow_consumer_timeout=0.5)


def _stomp(hub: Hub, clock: Clock) -> ServerSession:
    session = ServerSession(hub, clock=clock)
    session.on_wakeup = lambda: None
    session.receive_data(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0")
    session.receive_data(b"SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0")
    session.data_to_send()
    return session


@dataclass
class Run:
    """What a healthy reader and a publisher saw while never-readers kept joining."""

    sent: int = 0
    received: int = 0
    gap: float = 0.0  # the reader's longest time without a message
    peak: int = 0  # the most bytes the never-readers held at once
    stuck: list[ServerSession] = field(default_factory=list)


def run(join_every: float, seconds: int, rate: int = 2000) -> Run:
    """A publisher at `rate` messages a second, a healthy reader, and a new subscriber that
    never reads joining every `join_every` seconds; default bounds, on a fake clock."""
    hub, clock = Hub(), Clock()
    step = 1 / rate
    start = clock.now
    publisher = ServerSession(hub, clock=clock)
    publisher.on_wakeup = lambda: None
    publisher.receive_data(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0")
    publisher.data_to_send()
    reader = _stomp(hub, clock)
    send = encode_frame("SEND", [("destination", "/topic/t")], b"x" * 100, "1.2")
    result = Run()
    stuck = result.stuck
    last = 0.0
    joins = 0.0
    for i in range(rate * seconds):
        now = clock.now = start + i * step
        if now - start >= joins:
            stuck.append(_stomp(hub, clock))  # subscribes, then never reads again
            joins += join_every
        for session in (publisher, reader, *stuck):  # the adapters' timers
            deadline = session.next_deadline()
            if deadline is not None and now >= deadline:
                session.tick(now)
        publisher.resume()
        if not publisher.reading_paused:  # a paused publisher's socket takes nothing
            publisher.receive_data(send)
            result.sent += 1
        count = reader.data_to_send().count(b"MESSAGE\n")  # the healthy reader reads
        if count:
            result.received += count
            result.gap = max(result.gap, now - start - last)
            last = now - start
        result.peak = max(result.peak, sum(s.pending_output for s in stuck))
    result.gap = max(result.gap, seconds - last)
    return result


def test_never_reading_subscribers_joining_every_12_s_cannot_stall_a_topic():
    seen = run(join_every=12.0, seconds=60)
    assert seen.gap <= DOCUMENTED_GAP + STEP, f"the healthy reader got nothing for {seen.gap:.1f} s"
    assert seen.sent >= 0.9 * 120_000, f"the publisher got out {seen.sent} messages"
    assert seen.received == seen.sent  # a reader that keeps up loses nothing
    # Each subscriber that never read was ended, and told why; their backlogs were
    # dropped, so what they held stayed near the soft bound.
    assert all(s.closed and s.close_reason == "ERROR slow consumer" for s in seen.stuck)
    assert seen.peak <= 2 * SessionLimits().outbound_soft


def test_subscribers_falling_behind_one_after_another_take_a_tenth_of_the_time_at_most():
    # One joins every half second, so one falls behind every half second once they start.
    seen = run(join_every=0.5, seconds=30)
    assert seen.gap <= DOCUMENTED_GAP + STEP, f"the healthy reader got nothing for {seen.gap:.1f} s"
    assert seen.sent >= 0.85 * 60_000, f"the publisher got out {seen.sent} messages"
    assert seen.received == seen.sent
    assert sum(s.closed for s in seen.stuck) >= len(seen.stuck) - 4  # the last ones are young


def test_a_subscriber_still_behind_at_the_timeout_is_cut_and_the_publisher_goes_on(
        hub, clock, small):
    stuck = connected(hub, clock, limits=small)
    stuck.subscribe("/topic/t")
    fast = connected(hub, clock)
    fast.subscribe("/topic/t")
    publisher = connected(hub, clock)
    publisher.raw(b"".join(b"SEND\ndestination:/topic/t\n\n" + BODY + b"\0" for _ in range(30)))
    assert publisher.session.reading_paused  # a short wait: the subscriber may catch up
    assert stuck.session.next_deadline() == clock.now + small.slow_consumer_timeout
    clock.advance(small.slow_consumer_timeout)
    stuck.session.tick()
    [error] = stuck.read()
    assert error.get("message") == "slow consumer"
    assert "for 0.5 seconds" in error.body.decode()
    assert stuck.session.pending_output == 0 and stuck.session.next_deadline() is None
    assert not publisher.session.reading_paused
    publisher.session.resume()
    assert len(fast.messages()) == 30  # everyone else got everything


def test_a_subscriber_that_catches_up_in_time_stays(hub, clock, small):
    slow = connected(hub, clock, limits=small)
    slow.subscribe("/topic/t")
    publisher = connected(hub, clock, limits=small)
    for burst in range(5):  # five bursts, each read just before the timeout
        publisher.raw(b"".join(b"SEND\ndestination:/topic/t\n\n" + BODY + b"\0" for _ in range(3)))
        # The publisher waits for it the first time; then not again for ten timeouts.
        assert publisher.session.reading_paused == (burst == 0)
        clock.advance(small.slow_consumer_timeout * 0.9)
        slow.session.tick()
        publisher.session.tick()
        assert len(slow.messages()) == 3
        assert slow.session.next_deadline() is None  # caught up: no clock runs
        clock.advance(small.slow_consumer_timeout * 0.1)
        publisher.session.tick()
        publisher.session.resume()
    assert not slow.session.closed


def test_a_publisher_waits_for_topic_subscribers_one_timeout_in_ten(hub, clock, small):
    small = replace(small, outbound_hard=1 << 20)  # none is cut for its size here
    publisher = connected(hub, clock, limits=small)
    burst = b"".join(b"SEND\ndestination:/topic/t\n\n" + BODY + b"\0" for _ in range(3))
    timeout = small.slow_consumer_timeout
    waits = []
    for _ in range(40):  # a new subscriber falls behind every half timeout
        stuck = connected(hub, clock, limits=small)
        stuck.subscribe("/topic/t")
        publisher.raw(burst)
        waits.append(publisher.session.reading_paused)
        if publisher.session.reading_paused:  # never for longer than the timeout
            assert publisher.session.next_deadline() <= clock.now + timeout
        clock.advance(timeout / 2)
        publisher.session.tick()
        publisher.session.resume()
    # It waited in the first timeout of every ten (two rounds of half a timeout), no more.
    assert waits == ([True, True] + [False] * 18) * 2


def test_a_topic_subscriber_must_acknowledge_within_the_timeout(hub, clock, small):
    slow = connected(hub, clock, limits=small)
    slow.subscribe("/topic/t", ack="client-individual", **{"prefetch-count": "2"})
    publisher = connected(hub, clock)
    publisher.raw(b"".join(b"SEND\ndestination:/topic/t\n\n\0" for _ in range(3)))
    assert publisher.session.reading_paused  # its ack window is full
    first, _ = slow.messages()
    clock.advance(small.slow_consumer_timeout / 2)
    slow.send("ACK", {"id": first.get("ack") or ""})
    assert not publisher.session.reading_paused
    assert slow.session.next_deadline() is None
    publisher.session.resume()
    clock.advance(small.slow_consumer_timeout)
    slow.session.tick()
    [error] = slow.read()  # the third message was dropped with the backlog
    assert error.get("message") == "slow consumer"
    assert "awaiting ACK" in error.body.decode()


def test_a_lagging_queue_consumer_is_never_cut(hub, clock, small):
    slow = connected(hub, clock, limits=small)
    slow.subscribe("/queue/q")
    publisher = connected(hub, clock)
    publisher.raw(b"".join(b"SEND\ndestination:/queue/q\n\n" + BODY + b"\0" for _ in range(20)))
    assert slow.session.pending_output > small.outbound_soft  # its deliveries paused
    clock.advance(60.0)
    slow.session.tick()
    assert not slow.session.closed  # the rest waits in the queue for it, however long
    received = 0
    while batch := slow.messages():  # each read lets the queue send more
        received += len(batch)
    assert received == 20


def test_a_publish_without_a_publishing_session_cuts_a_stuck_subscriber_too(hub, clock, small):
    stuck = Client(hub, clock, limits=small)
    stuck.connect()
    stuck.subscribe("/topic/t")
    for _ in range(5):  # an HTTP publish: nobody to make wait
        hub.publish("/topic/t", [], BODY)
    clock.advance(small.slow_consumer_timeout)
    stuck.session.tick()
    assert stuck.session.closed and stuck.session.pending_output > 0  # the ERROR only
    assert [f.command for f in stuck.read()] == ["ERROR"]
