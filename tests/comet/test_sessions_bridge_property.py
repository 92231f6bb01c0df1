"""The end-to-end promise, by simulation: STOMP through a comet session, against a real
hub, with requests lost, retried, cut and replaced, loses and repeats no message.

A browser subscribes to a topic a TCP-style publisher sends to, and sends to a queue a
TCP-style consumer reads, all while random events strike its requests (as in
`test_sessions_property`). At the end, the browser has every published message once and
in order, the consumer every message the browser sent, and DISCONNECT closes both
sessions with the reason reaching the browser.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comet_core.comet import CometLimits, SessionStore, State
from comet_core.hub import Hub
from tests.comet.support import Browser, Conn, Loop
from tests.stomp.session_support import Clock, connected

KINDS = ("poll", "stream", "sse")
LIMITS = CometLimits(idle_timeout=1e9, max_hold=5, max_unacked=2000, max_upload=300)


class BridgeWorld:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.hub = Hub()
        self.clock = Clock()
        self.loop = Loop()
        self.store = SessionStore(LIMITS)
        self.browser = Browser(self.store, self.hub, self.clock, self.loop)
        self.browser.connect()
        self.browser.subscribe("/topic/down")
        self.consumer = connected(self.hub, self.clock)
        self.consumer.subscribe("/queue/up")
        self.publisher = connected(self.hub, self.clock)
        self.published = 0
        self.sent = 0
        self.received_up: list[bytes] = []
        self.conns: list[list] = []  # [conn, pieces read, alive]

    @property
    def now(self) -> float:
        return self.clock.now

    def publish(self, count: int) -> None:
        for _ in range(count):
            body = b"d%05d" % self.published + b"." * self.rng.randrange(80)
            self.publisher.publish("/topic/down", body)
            self.published += 1
        self.loop.run()

    def browser_sends(self, count: int) -> None:
        for _ in range(count):
            self.browser.write("SEND", {"destination": "/queue/up"}, b"u%05d" % self.sent)
            self.sent += 1

    def upload(self, size: int, lost: bool, answer_lost: bool) -> None:
        client = self.browser.client
        up = client.upload(self.now, size)
        if not lost:
            client.deliver(up, self.now, answer_lost)
            self.loop.run()

    def replay(self, index: int) -> None:
        client = self.browser.client
        if client.uploads:
            client.deliver(client.uploads[index % len(client.uploads)], self.now, True)
            self.loop.run()

    def request(self, kind: str, recycle: int, hold: float | None) -> None:
        conn = Conn(kind, recycle=recycle, keepalive=2.0)
        self.browser.client.request(conn, self.now, hold)
        self.conns.append([conn, 0, True])
        self.loop.run()

    def read(self, index: int, count: int) -> None:
        if not self.conns:
            return
        entry = self.conns[index % len(self.conns)]
        conn, done, alive = entry
        if alive:
            for piece in conn.pieces[done:done + count]:
                self.browser.client.read(piece)
            entry[1] = min(len(conn.pieces), done + count)
            self.browser.parse()

    def cut(self, index: int, noticed: bool) -> None:
        if self.conns:
            entry = self.conns[index % len(self.conns)]
            entry[2] = False
            if noticed:
                self.browser.session.detach(entry[0], self.now)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        while (deadline := self.store.next_deadline()) is not None and deadline <= self.now:
            self.store.tick(self.now)
        self.loop.run()

    def collect(self) -> None:
        self.received_up += [m.body for m in self.consumer.messages()]

    def finish(self) -> None:
        b = self.browser
        for index, entry in enumerate(self.conns):
            if entry[2]:
                self.read(index, len(entry[0].pieces))
        while b.client.applied < len(b.client.outgoing):
            b.upload()
        self.collect()
        assert self.received_up == [b"u%05d" % i for i in range(self.sent)]
        for _ in range(10_000):
            if sum(f.command == "MESSAGE" for f in b.frames) == self.published:
                break
            b.poll()
            self.loop.run()
        bodies = [f.body[:6] for f in b.frames if f.command == "MESSAGE"]
        assert bodies == [b"d%05d" % i for i in range(self.published)]
        assert [f.command for f in b.frames if f.command != "MESSAGE"] == [
            "CONNECTED", "RECEIPT"]
        b.send("DISCONNECT", {"receipt": "bye"})
        while b.client.closed is None:
            b.poll()
        assert b.frames[-1].get("receipt-id") == "bye"
        assert b.client.closed == "the client sent DISCONNECT"
        assert b.bridge.stomp.closed and b.session.state is State.CLOSING


def play(world: BridgeWorld, actions: list[tuple[int, int]]) -> None:
    for code, n in actions:
        if code == 0:
            world.publish(1 + n % 5)
        elif code == 1:
            world.browser_sends(1 + n % 3)
        elif code == 2:
            world.upload(n % 301, lost=n % 5 == 0, answer_lost=n % 3 == 0)
        elif code == 3:
            world.replay(n)
        elif code == 4:
            world.request(KINDS[n % 3], recycle=50 + n % 1000,
                          hold=None if n % 4 == 0 else n % 6)
        elif code == 5:
            world.read(n, 1 + n % 4)
        elif code == 6:
            world.cut(n, noticed=n % 2 == 0)
        elif code == 7:
            world.advance((n % 40) / 10)
        elif code == 8:
            world.read(n, 1 << 30)
        if code in (2, 3):
            world.collect()
    world.finish()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 10_000)), max_size=100),
       st.integers(0, 2**32 - 1))
def test_stomp_over_a_lossy_comet_session_loses_and_repeats_nothing(
        actions: list[tuple[int, int]], seed: int) -> None:
    play(BridgeWorld(seed), actions)


def test_long_stomp_sessions_with_many_losses() -> None:
    for seed in range(3):
        rng = random.Random(seed)
        world = BridgeWorld(seed)
        play(world, [(rng.randrange(9), rng.randrange(10_000)) for _ in range(1500)])
        assert world.published > 300 and world.sent > 200
