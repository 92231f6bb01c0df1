"""Topic messages carried straight into a comet session (`StompBridge._carry`), sans-IO.

A message for a STOMP session with nothing else waiting, on an auto-ack subscription, is
written into the comet session at once when the transport says it can (`can_carry`):
no buffer, no wakeup, no pump. The promise kept either way: the client gets the same
bytes, once each and in publish order.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comet_core.comet import CometLimits, SessionStore
from comet_core.hub import Hub
from tests.comet.support import Browser, Conn, Loop
from tests.stomp.session_support import Clock, connected

TOPIC = "/topic/news"


class Carrying:
    """A browser whose bridge's `can_carry` answers `answer`; wakeups and asks counted."""

    def __init__(self, hub: Hub, clock: Clock, loop: Loop, answer: bool | None = True,
                 limits: CometLimits | None = None, ack: str = "auto") -> None:
        self.browser = b = Browser(SessionStore(limits), hub, clock, loop)
        b.connect()
        b.subscribe(TOPIC, ack=ack)
        self.answer = answer
        self.asked = 0
        self.wakeups = 0
        woke = b.bridge.on_wakeup
        assert woke is not None

        def on_wakeup() -> None:
            self.wakeups += 1
            woke()

        b.bridge.on_wakeup = on_wakeup
        b.bridge.can_carry = None if answer is None else self._can_carry

    def _can_carry(self) -> bool:
        self.asked += 1
        return bool(self.answer)

    def hold(self) -> Conn:
        """A long-poll held open (no hold time given: the store's bound)."""
        b = self.browser
        return b.client.request(Conn("poll"), b.clock.now)


def reference_bytes(hub: Hub, clock: Clock, loop: Loop, publish) -> bytes:
    """What the buffered path gives a subscriber for what `publish` publishes."""
    ref = Carrying(hub, clock, loop, answer=None)
    conn = ref.hold()
    publish()
    loop.run()
    return conn.data


def test_a_carried_message_skips_the_wakeup_and_brings_the_buffered_bytes(hub, clock):
    loop = Loop()
    carried = Carrying(hub, clock, loop, answer=True)
    publisher = connected(hub, clock)
    held = carried.hold()
    before = carried.wakeups
    publisher.publish(TOPIC, b"hello", **{"content-type": "text/plain"})
    assert carried.wakeups == before  # no wakeup, no pump needed ...
    assert loop.woken == []
    (message,) = carried.browser.take(held)  # ... the held poll has it already
    assert (message.command, message.body) == ("MESSAGE", b"hello")
    assert carried.browser.bridge.stomp.pending_output == 0

    # A subscriber on the buffered path, with the same subscription id, gets the same bytes
    # for the next message, as does the carrying one.
    again = carried.hold()
    buffered = reference_bytes(hub, clock, loop, lambda: publisher.publish(
        TOPIC, b"world", **{"content-type": "text/plain"}))
    assert buffered.startswith(b"MESSAGE\n") and b"world" in buffered
    assert again.data == buffered


def test_without_can_carry_or_when_it_says_no_the_message_is_buffered(hub, clock):
    loop = Loop()
    refused = Carrying(hub, clock, loop, answer=False)
    unset = Carrying(hub, clock, loop, answer=None)
    held = [refused.hold(), unset.hold()]
    publisher = connected(hub, clock)
    publisher.publish(TOPIC, b"hello")
    assert (refused.wakeups, unset.wakeups) == (1, 1)
    assert refused.asked == 1
    assert [c.data for c in held] == [b"", b""]  # waiting in the STOMP sessions
    loop.run()
    assert held[0].data == held[1].data
    assert held[0].data.startswith(b"MESSAGE\n") and held[0].data.endswith(b"hello\0")


def test_a_message_behind_a_waiting_message_is_not_carried(hub, clock):
    loop = Loop()
    c = Carrying(hub, clock, loop, answer=False)
    held = c.hold()
    publisher = connected(hub, clock)
    publisher.publish(TOPIC, b"first")  # buffered, waiting for its pump
    c.answer = True
    publisher.publish(TOPIC, b"second")
    publisher.publish(TOPIC, b"third")
    assert held.data == b""  # nothing jumped the queue
    loop.run()
    assert [f.body for f in c.browser.take(held)] == [b"first", b"second", b"third"]


def test_a_message_behind_a_waiting_receipt_is_not_carried(hub, clock):
    loop = Loop()
    c = Carrying(hub, clock, loop, answer=True)
    b = c.browser
    held = c.hold()
    # A RECEIPT the bridge has not moved yet: frames handed to the STOMP session directly,
    # as if its own upload were still being handled.
    b.bridge.stomp.receive_data(b"SUBSCRIBE\nid:s2\ndestination:/topic/other\n"
                                b"receipt:r2\n\n\0")
    assert b.bridge.stomp.pending_output > 0
    publisher = connected(hub, clock)
    publisher.publish(TOPIC, b"after the receipt")
    assert held.data == b""
    b.bridge.pump()
    frames = b.take(held)
    assert [(f.command, f.body) for f in frames] == [
        ("RECEIPT", b""), ("MESSAGE", b"after the receipt")]


def test_a_message_published_by_the_session_itself_is_not_carried(hub, clock):
    """Inside the bridge's own call (an upload) it pumps itself: no carry is attempted."""
    loop = Loop()
    c = Carrying(hub, clock, loop, answer=True)
    held = c.hold()
    c.browser.send("SEND", {"destination": TOPIC, "receipt": "sent"}, b"to myself")
    assert c.asked == 0
    frames = c.browser.take(held)
    assert [(f.command, f.body) for f in frames] == [("MESSAGE", b"to myself"),
                                                     ("RECEIPT", b"")]


def test_client_ack_subscriptions_are_never_carried(hub, clock):
    loop = Loop()
    publisher = connected(hub, clock)
    for ack in ("client", "client-individual"):
        c = Carrying(hub, clock, loop, answer=True, ack=ack)
        held = c.hold()
        publisher.publish(TOPIC, ack.encode())
        assert held.data == b""
        assert c.wakeups == 1
        loop.run()
        (message,) = c.browser.take(held)
        assert message.body == ack.encode() and message.get("ack")
        c.browser.store.close(c.browser.session.session_id)  # off the topic for the next


def test_a_session_at_its_unacked_bound_is_not_carried_into(hub, clock):
    loop = Loop()
    c = Carrying(hub, clock, loop, answer=True, limits=CometLimits(max_unacked=400))
    b = c.browser
    publisher = connected(hub, clock)
    held = c.hold()
    sent = 0
    while b.session.writable:  # carried in, never acknowledged
        publisher.publish(TOPIC, b"%03d" % sent + b"." * 50)
        sent += 1
        assert sent < 20
    assert c.wakeups == 0
    unacked = b.session.unacked
    for _ in range(3):
        publisher.publish(TOPIC, b"%03d" % sent + b"." * 50)
        sent += 1
    loop.run()  # a pump moves nothing: the session is still full
    assert b.session.unacked == unacked
    assert b.bridge.stomp.pending_output > 0  # the rest waits in the STOMP session
    bodies = [f.body[:3] for f in b.take(held)]
    for _ in range(20):  # each poll acknowledges: resume_writing, a wakeup, a pump
        if len(bodies) == sent:
            break
        bodies += [f.body[:3] for f in b.poll()]
        loop.run()
    assert bodies == [b"%03d" % i for i in range(sent)]


# --- the property: carried and buffered deliveries interleaved, nothing lost or repeated ---

OPS = st.lists(st.tuples(st.sampled_from(("publish", "pump", "poll", "hold", "receipt")),
                         st.integers(0, 4)), min_size=10, max_size=80)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, seed=st.integers(0, 2**32 - 1))
def test_carried_and_buffered_deliveries_keep_the_published_order(ops, seed):
    rng = random.Random(seed)
    hub, clock, loop = Hub(), Clock(), Loop()
    limits = CometLimits(max_unacked=1500, idle_timeout=1e9, max_hold=1e9)
    c = Carrying(hub, clock, loop, limits=limits)
    c.browser.bridge.can_carry = lambda: rng.random() < 0.6  # a random answer each time
    b = c.browser
    publisher = connected(hub, clock)
    published: list[bytes] = []
    receipts = 0
    conns: list[Conn] = []

    for op, n in ops:
        if op == "publish":
            for _ in range(n + 1):
                body = b"m%04d" % len(published) + b"." * rng.randrange(60)
                published.append(body)
                publisher.publish(TOPIC, body)
        elif op == "pump":
            loop.run()
        elif op == "poll":  # answered at once; acknowledges what the client holds
            b.poll()
            loop.run()
        elif op == "hold":
            conns.append(c.hold())
        else:  # the browser's own frames, with output of their own in between
            b.send("SEND", {"destination": "/topic/elsewhere", "receipt": f"r{receipts}"})
            receipts += 1
        if conns and rng.random() < 0.5:  # some held answer reaches the client
            b.take(conns.pop())

    for conn in conns:
        b.take(conn)
    for _ in range(200):
        loop.run()
        b.poll()
        if b.bridge.stomp.pending_output == 0 and b.session.unacked == 0 and not loop.woken:
            break
    loop.run()
    b.poll()
    messages = [f.body for f in b.frames if f.command == "MESSAGE" and f.body[:1] == b"m"]
    assert messages == published
    got = [f.get("receipt-id") for f in b.frames if f.command == "RECEIPT"]
    assert got == ["sub-s1"] + [f"r{i}" for i in range(receipts)]
