"""The promise of a comet session, checked by simulation: within a session's life, every
byte arrives once and in order, in both directions, whatever happens to the requests.

A simulated client and server exchange random data through one session, while random
events strike: responses lost after the server sent them, streams cut in the middle,
uploads lost on the way or answered with a lost answer, old uploads arriving again late,
requests replaced by newer ones of another kind (long-poll, XHR stream, SSE), time
passing (holds running out, keep-alives), the producer outrunning the client's acks, and
the server closing the session. At the end nothing is lost any more, and the client must
hold exactly the server's bytes, the server's app exactly the client's, and the client the
reason the session closed.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comet_core.comet import CometLimits, SessionClosed, SessionStore, State, UnknownSession
from tests.comet.support import Client, Conn, Piece, RecordingApp

KINDS = ("poll", "stream", "sse")


class World:
    """One session, its client, and the requests between them."""

    def __init__(self, seed: int, limits: CometLimits) -> None:
        self.rng = random.Random(seed)
        self.clock = [0.0]
        self.store = SessionStore(limits)
        session = self.store.open(now=0.0)
        self.session = session
        self.app = RecordingApp(session, self.clock)
        self.client = Client(self.store, session.session_id)
        self.conns: list[list] = []  # [conn, pieces read, alive]
        self.last = b""
        self.reason: str | None = None

    @property
    def now(self) -> float:
        return self.clock[0]

    # --- the events -----------------------------------------------------------------

    def produce(self, n: int) -> None:
        if self.session.state is State.OPEN:
            self.app.produce(self.rng.randbytes(n))

    def request(self, kind: str, recycle: int, keepalive: float, hold: float | None) -> None:
        conn = Conn(kind, recycle=recycle, keepalive=keepalive)
        self.client.request(conn, self.now, hold)
        self.conns.append([conn, 0, True])

    def read(self, index: int, count: int) -> None:
        if not self.conns:
            return
        entry = self.conns[index % len(self.conns)]
        conn, done, alive = entry
        if not alive:
            return
        for piece in conn.pieces[done:done + count]:
            self.client.read(piece)
        entry[1] = min(len(conn.pieces), done + count)

    def cut(self, index: int, noticed: bool, partial: int) -> None:
        """A connection breaks: what it had not delivered is lost, and so is anything the
        server sends it later, but for the first `partial` bytes of the next piece. The
        transport may notice (and detach) or not."""
        if not self.conns:
            return
        entry = self.conns[index % len(self.conns)]
        conn, done, alive = entry
        if alive and done < len(conn.pieces) and partial:
            piece = conn.pieces[done]
            self.client.read(Piece(piece.offset, piece.data[:partial]))
        entry[2] = False
        if noticed:
            self.session.detach(entry[0], self.now)

    def client_writes(self, n: int) -> None:
        self.client.outgoing += self.rng.randbytes(n)

    def upload(self, size: int, lost: bool, answer_lost: bool) -> None:
        up = self.client.upload(self.now, size)
        if not lost:
            self.deliver(up, answer_lost)

    def replay(self, index: int, answer_lost: bool) -> None:
        """An earlier upload arrives again (a retry, or a duplicate from the network)."""
        if self.client.uploads:
            self.deliver(self.client.uploads[index % len(self.client.uploads)], answer_lost)

    def deliver(self, up, answer_lost: bool) -> None:  # type: ignore[no-untyped-def]
        try:
            self.client.deliver(up, self.now, answer_lost)
        except (SessionClosed, UnknownSession):  # closing; or closed and gone
            assert self.session.state is not State.OPEN

    def advance(self, seconds: float) -> None:
        self.clock[0] += seconds
        for _ in range(1000):
            deadline = self.store.next_deadline()
            if deadline is None or deadline > self.now:
                return
            self.store.tick(self.now)
        raise AssertionError("the store's deadline does not move")

    def close(self, last_size: int) -> None:
        if self.session.state is State.OPEN:
            self.last = self.rng.randbytes(last_size)
            self.reason = "the server is done"
            self.session.close(self.reason, self.now, self.last)

    # --- checks -----------------------------------------------------------------------

    def check_prefixes(self) -> None:
        """At every moment: what each side got is a prefix of what the other sent."""
        sent_down = bytes(self.app.written) + self.last
        assert sent_down.startswith(self.client.have)
        assert self.client.outgoing.startswith(bytes(self.app.received))

    def finish(self) -> None:
        """Stop the losses and let the client catch up; then check everything arrived."""
        client, session, app = self.client, self.session, self.app
        for entry in self.conns:  # what live connections still carry arrives
            if entry[2]:
                self.read(self.conns.index(entry), len(entry[0].pieces))
        while session.state is State.OPEN and client.applied < len(client.outgoing):
            client.deliver(client.upload(self.now, self.store.limits.max_upload), self.now)
        if session.state is State.OPEN:
            assert bytes(app.received) == client.outgoing
        else:  # the close stopped uploads: what arrived is still a prefix, once each
            assert client.outgoing.startswith(bytes(app.received))
            assert len(app.received) == session.applied
        closing_now = False
        for _ in range(10_000):
            if client.closed is not None or client.gone:
                break
            if (session.state is State.OPEN and not app.backlog
                    and len(client.have) == session.written):
                closing_now = True
                self.close(7)
            conn = client.request(Conn("poll"), self.now, hold=0)
            if not conn.pieces:
                self.advance(0)  # a zero hold: answered at once
            for piece in conn.pieces:
                client.read(piece)
        else:
            raise AssertionError("the client never caught up")
        assert bytes(client.have) == bytes(app.written) + self.last
        assert client.closed == self.reason or (client.gone and not closing_now)
        assert session.state is State.CLOSED or client.closed is not None


ACTION = st.tuples(st.integers(0, 9), st.integers(0, 10_000))


def play(world: World, actions: list[tuple[int, int]]) -> None:
    for code, n in actions:
        if code == 0:
            world.produce(n % 300)
        elif code == 1:
            world.request(KINDS[n % 3], recycle=20 + n % 400, keepalive=1 + n % 4,
                          hold=None if n % 5 == 0 else n % 7)
        elif code == 2:
            world.read(n, 1 + n % 3)
        elif code == 3:
            world.read(n, 1 << 30)
        elif code == 4:
            world.cut(n, noticed=n % 2 == 0, partial=n % 3 and n % 50)
        elif code == 5:
            world.client_writes(n % 150)
        elif code == 6:
            world.upload(n % 201, lost=n % 5 == 0, answer_lost=n % 3 == 0)
        elif code == 7:
            world.replay(n, answer_lost=n % 2 == 0)
        elif code == 8:
            world.advance((n % 60) / 10)
        elif code == 9 and n % 40 == 0:
            world.close(n % 20)
        world.check_prefixes()
    world.finish()


LIMITS = CometLimits(idle_timeout=1e9, max_hold=5, max_unacked=300, max_upload=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTION, max_size=120), st.integers(0, 2**32 - 1))
def test_every_byte_arrives_once_and_in_order(actions: list[tuple[int, int]],
                                              seed: int) -> None:
    play(World(seed, LIMITS), actions)


def test_long_sessions_with_many_losses() -> None:
    """Fewer, longer runs: thousands of events each, so buffers fill and drain many times."""
    for seed in range(6):
        rng = random.Random(seed)
        actions = [(rng.randrange(9), rng.randrange(10_000)) for _ in range(3000)]  # no close
        world = World(seed, LIMITS)
        play(world, actions)
        assert len(world.client.have) > 10_000  # it did carry a real amount
