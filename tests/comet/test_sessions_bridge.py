"""A STOMP session carried by a comet session, against a real hub.

The browser side (`Browser`) speaks STOMP through numbered uploads and long-polls; the
other side is a plain STOMP session, as a TCP client would have. Both meet the same
topics and queues.
"""

from __future__ import annotations

import pytest

from comet_core.comet import CometLimits, SessionClosed, SessionStore, State
from comet_core.hub import Hub
from comet_core.stomp.session import SessionLimits
from tests.comet.support import Browser, Conn, Loop
from tests.stomp.session_support import Clock, connected


@pytest.fixture
def loop() -> Loop:
    return Loop()


def browser(hub: Hub, clock: Clock, loop: Loop, limits: CometLimits | None = None,
            stomp: SessionLimits | None = None) -> Browser:
    return Browser(SessionStore(limits), hub, clock, loop, limits=stomp)


def test_a_browser_receives_a_message_published_over_tcp(hub, clock, loop):
    b = browser(hub, clock, loop)
    frame = b.connect()
    assert frame.get("session") != b.session.session_id  # the comet id stays secret
    b.subscribe("/topic/news")
    held = b.client.request(Conn("poll"), clock.now)  # a long-poll waits
    publisher = connected(hub, clock)
    publisher.publish("/topic/news", b"hello", **{"content-type": "text/plain"})
    assert held.pieces == []  # the bridge waits to be pumped ...
    loop.run()                # ... as the transport does on the reactor's next turn
    (message,) = b.take(held)
    assert (message.command, message.body) == ("MESSAGE", b"hello")
    assert message.get("destination") == "/topic/news"


def test_a_retried_send_is_published_once(hub, clock, loop):
    consumer = connected(hub, clock)
    consumer.subscribe("/queue/orders")
    b = browser(hub, clock, loop)
    b.connect()
    b.write("SEND", {"destination": "/queue/orders"}, b"one pizza")
    b.upload(answer_lost=True)  # applied, but the browser never hears so
    b.upload()                  # so it sends the same bytes again
    assert [m.body for m in consumer.messages()] == [b"one pizza"]


def test_disconnect_closes_the_comet_session_with_its_reason(hub, clock, loop):
    b = browser(hub, clock, loop)
    b.connect()
    b.send("DISCONNECT", {"receipt": "bye"})
    conn = b.client.request(Conn("poll"), clock.now)
    (receipt,) = b.take(conn)
    assert receipt.get("receipt-id") == "bye"
    assert b.client.closed == "the client sent DISCONNECT"
    with pytest.raises(SessionClosed) as info:
        b.session.receive(b.client.applied, b"SEND", clock.now)
    assert "the client sent DISCONNECT" in str(info.value)


def test_a_stomp_error_reaches_the_browser_then_the_session_closes(hub, clock, loop):
    b = browser(hub, clock, loop)
    b.connect()
    b.send("SUBSCRIBE", {"destination": "/nowhere", "id": "1"})
    (error,) = b.poll()
    assert error.command == "ERROR" and error.get("message") == "unknown destination"
    assert b.client.closed == "ERROR unknown destination"
    assert b.session.state is State.CLOSING
    b.poll()  # the browser acknowledges the last byte: the session is gone
    assert b.session.state is State.CLOSED and len(b.store) == 0


def test_an_expired_session_gives_its_queue_messages_to_others(hub, clock, loop):
    limits = CometLimits(idle_timeout=30)
    b = browser(hub, clock, loop, limits)
    b.connect()
    b.subscribe("/queue/jobs", ack="client")
    producer = connected(hub, clock)
    producer.publish("/queue/jobs", b"job 1")
    loop.run()
    (message,) = b.poll()
    assert message.body == b"job 1"  # and the browser never acknowledges it: it is gone
    other = connected(hub, clock)
    other.subscribe("/queue/jobs")
    clock.advance(30)
    b.store.tick(clock.now)
    assert b.session.state is State.CLOSED
    assert b.bridge.stomp.closed and b.bridge.stomp.close_reason.startswith("expired")
    (again,) = other.messages()
    assert (again.body, again.get("redelivered")) == (b"job 1", "true")


def test_a_full_session_holds_messages_back_and_loses_none(hub, clock, loop):
    """The browser does not acknowledge: past max_unacked the bridge leaves messages in
    the STOMP session, and each ack lets more through, in order."""
    b = browser(hub, clock, loop, CometLimits(max_unacked=1000))
    b.connect()
    b.subscribe("/topic/t")
    publisher = connected(hub, clock)
    for i in range(60):
        publisher.publish("/topic/t", b"%03d" % i + b"." * 60)
        if i == 30:
            loop.run()  # the bridge moves what the STOMP session has: past the bound now
            assert not b.session.writable
            kept = b.session.unacked
    loop.run()
    assert b.session.unacked == kept  # nothing more moved in
    assert b.bridge.stomp.pending_output > 0  # the rest waits in the STOMP session
    bodies = []
    for _ in range(100):
        bodies += [f.body[:3] for f in b.poll()]
        loop.run()  # an ack made room: the bridge was woken
        if len(bodies) == 60:
            break
    assert bodies == [b"%03d" % i for i in range(60)]


def test_a_client_that_never_acknowledges_becomes_a_slow_consumer(hub, clock, loop):
    """Past the STOMP session's hard bound, the STOMP session ends with ERROR slow
    consumer; the bytes the comet session had accepted still reach the browser, then
    the ERROR, then the reason."""
    stomp = SessionLimits(outbound_soft=2000, outbound_hard=5000, flow_timeout=1.0)
    b = browser(hub, clock, loop, CometLimits(max_unacked=1000), stomp)
    b.connect()
    b.subscribe("/topic/t")
    publisher = connected(hub, clock, limits=stomp)
    loop.publishers.append(publisher.session)
    for i in range(100):
        publisher.publish("/topic/t", b"%03d" % i + b"." * 100)
        loop.run()
        if publisher.session.reading_paused:  # flow control: the publisher waits ...
            clock.advance(stomp.flow_timeout)  # ... until it gives up
            publisher.session.tick()
            loop.run()
    assert b.session.state is State.CLOSING
    for _ in range(20):
        if b.client.closed:
            break
        b.poll()
    assert b.client.closed == "ERROR slow consumer"
    *messages, error = b.frames[2:]  # after CONNECTED and the RECEIPT
    assert error.get("message") == "slow consumer"
    bodies = [m.body[:3] for m in messages]
    assert bodies == [b"%03d" % i for i in range(len(bodies))]  # a prefix, in order


def test_stomp_heart_beats_run_on_the_store_clock(hub, clock, loop):
    b = browser(hub, clock, loop)
    b.connect(**{"heart-beat": "0,1000"})  # the browser wants a beat every second
    held = b.client.request(Conn("sse"), clock.now)
    assert b.store.next_deadline() == clock.now + 1.0
    clock.advance(1.0)
    b.store.tick(clock.now)
    assert held.data == b"\n"


def test_a_silent_stomp_client_is_dropped_by_heart_beat(hub, clock, loop):
    b = browser(hub, clock, loop)
    b.connect(**{"heart-beat": "1000,0"})  # the browser promises a beat every second
    b.client.request(Conn("sse", keepalive=1.0), clock.now)
    for _ in range(4):
        clock.advance(1.0)
        b.store.tick(clock.now)
    assert b.session.state is not State.OPEN
    assert b.session.close_reason == "ERROR heart-beat timeout"


def test_shutdown_tells_the_browser(hub, clock, loop):
    b = browser(hub, clock, loop)
    b.connect()
    held = b.client.request(Conn("poll"), clock.now)
    b.bridge.shutdown()
    (error,) = b.take(held)
    assert error.get("message") == "server shutting down"
    assert b.client.closed == "ERROR server shutting down"


def test_the_browser_closing_its_session_ends_the_stomp_session(hub, clock, loop):
    b = browser(hub, clock, loop)
    b.connect()
    b.subscribe("/topic/t")
    b.store.close(b.session.session_id)
    assert b.bridge.stomp.closed
    assert "/topic/t" not in hub.topics
