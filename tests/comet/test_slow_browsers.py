"""Browsers that stop reading cannot freeze a chat room: the STOMP slow-consumer policy
holds for a STOMP session carried by a comet session, on the store's clock.

A browser that stops polling keeps ``CometLimits.max_unacked`` bytes in its comet session;
past that the bridge leaves messages in its STOMP session, which then falls behind like a
TCP subscriber that stopped reading, and is ended ``slow_consumer_timeout`` later.
"""

from __future__ import annotations

from comet_core.comet import SessionStore, State
from comet_core.stomp.session import SessionLimits
from tests.comet.support import Browser, Loop
from tests.stomp.session_support import connected

#: `SessionLimits.slow_consumer_timeout`'s default: the longest a room may stand still.
DOCUMENTED_GAP = 1.0


def test_a_flood_and_six_browsers_that_stop_reading_do_not_freeze_a_room(hub, clock):
    loop = Loop()
    store = SessionStore()  # the default bounds throughout
    reader = Browser(store, hub, clock, loop)
    reader.connect()
    reader.subscribe("/topic/room")
    silent = []
    for _ in range(6):
        browser = Browser(store, hub, clock, loop)
        browser.connect()
        browser.subscribe("/topic/room")  # and never asks for anything again
        silent.append(browser)
    publisher = connected(hub, clock)
    body = b"m" * 1000
    step, seconds = 0.01, 20
    start = clock.now
    last = gap = 0.0
    sent = received = 0
    for i in range(int(seconds / step)):
        clock.now = now = start + i * step
        deadline = publisher.session.next_deadline()
        if deadline is not None and now >= deadline:
            publisher.session.tick()
        store.tick(now)
        loop.run()
        publisher.session.resume()
        for _ in range(10):  # 1,000 messages a second, while the publisher may send
            if publisher.session.reading_paused:
                break
            publisher.publish("/topic/room", body)
            sent += 1
        loop.run()
        count = len(reader.poll())
        if count:
            received += count
            gap = max(gap, now - start - last)
            last = now - start
    gap = max(gap, seconds - last)
    assert gap <= DOCUMENTED_GAP + 2 * step, f"the room stood still for {gap:.1f} s"
    assert received == sent  # the browser that reads lost nothing
    for browser in silent:  # each silent one was ended, with the reason after its data
        assert browser.session.state is State.CLOSING
        assert browser.session.close_reason == "ERROR slow consumer"
        assert browser.bridge.stomp.pending_output == 0
    assert SessionLimits().slow_consumer_timeout == DOCUMENTED_GAP
