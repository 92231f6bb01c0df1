"""What the comet session tests share: stand-ins for a transport's waiters, an app, and a
simulated client that holds a comet session together over unreliable requests.

Nothing here touches a socket or a clock: time is a number the test moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from comet_core.comet import CometSession, SessionStore, StompBridge, UnknownSession
from comet_core.hub import Hub
from comet_core.stomp.frames import Frame, FrameParser, encode_frame
from comet_core.stomp.session import ServerSession, SessionLimits
from tests.stomp.session_support import Clock as StompClock


@dataclass
class Piece:
    """One piece of data a waiter carried: what a response (or stream chunk) said."""

    offset: int
    data: bytes
    closed: str | None = None


class Conn:
    """A simulated downstream request, as a transport's `Waiter`.

    ``kind`` is "poll" (a long-poll: one answer, then done), "stream" (XHR streaming:
    many pieces until ``recycle`` bytes) or "sse" (many pieces, keep-alives, no recycle).
    What the server sent is in `pieces`; the test decides which of them reach the client.
    """

    def __init__(self, kind: str = "poll", recycle: int = 1 << 30,
                 keepalive: float = 5.0) -> None:
        self.kind = kind
        self.recycle = recycle
        self.keepalive = keepalive
        self.pieces: list[Piece] = []
        self.sent = 0
        self.idles = 0
        self.finished: str | None = None
        self.answered_empty = False

    # The Waiter interface.
    def send(self, offset: int, data: bytes, closed: str | None) -> bool:
        self.pieces.append(Piece(offset, data, closed))
        self.sent += len(data)
        if self.kind == "poll":
            return False
        return self.sent < self.recycle

    def idle(self, now: float) -> float | None:
        self.idles += 1
        if self.kind == "poll":
            self.answered_empty = True
            return None
        return self.keepalive

    def finish(self, reason: str) -> None:
        self.finished = reason

    @property
    def data(self) -> bytes:
        return b"".join(p.data for p in self.pieces)


class RecordingApp:
    """A `SessionApp` that records the client's bytes and writes bytes it is given.

    `produce` queues bytes for the client; they are written while the session is
    writable, and the rest on `resume_writing`, as a well-behaved producer does.
    """

    def __init__(self, session: CometSession, clock: list[float] | None = None) -> None:
        self.session = session
        self.clock = clock if clock is not None else [0.0]
        self.received = bytearray()
        self.written = bytearray()
        self.backlog = bytearray()
        self.resumed = 0
        self.closed: list[str] = []
        self.ticks: list[float] = []
        self.deadline: float | None = None
        session.app = self

    def produce(self, data: bytes) -> None:
        self.backlog += data
        self.flush()

    def flush(self, chunk: int = 97) -> None:
        session = self.session
        while self.backlog and session.writable:
            data = bytes(self.backlog[:chunk])
            del self.backlog[:chunk]
            session.write(data, self.clock[0])
            self.written += data

    # The SessionApp interface.
    def data_received(self, data: bytes) -> None:
        self.received += data

    def resume_writing(self) -> None:
        self.resumed += 1
        self.flush()

    def session_closed(self, reason: str) -> None:
        self.closed.append(reason)

    def next_deadline(self) -> float | None:
        return self.deadline

    def tick(self, now: float) -> None:
        self.ticks.append(now)
        self.deadline = None


@dataclass
class Upload:
    offset: int
    data: bytes


@dataclass
class Client:
    """The client side of one comet session, by the rules of the wire protocol.

    It keeps `have`, every downstream byte in order, and checks each piece it reads:
    a piece never starts past what it has (that would be a lost byte). Upstream it
    keeps its own bytes and the `applied` count the server last reported.
    """

    store: SessionStore
    session_id: str
    have: bytearray = field(default_factory=bytearray)
    closed: str | None = None
    gone: bool = False  # the store answered "unknown session"
    outgoing: bytes = b""   # every byte the client has written so far
    applied: int = 0        # the server's last reported count
    uploads: list[Upload] = field(default_factory=list)

    def read(self, piece: Piece) -> None:
        held = len(self.have)
        assert piece.offset <= held, f"bytes {held}..{piece.offset} were skipped"
        skip = held - piece.offset
        if skip < len(piece.data):
            self.have += piece.data[skip:]
        if piece.closed is not None and piece.offset + len(piece.data) <= len(self.have):
            self.closed = piece.closed

    def request(self, conn: Conn, now: float, hold: float | None = None) -> Conn:
        """Ask for data with the count held (an SSE reconnect's Last-Event-ID)."""
        try:
            self.store.get(self.session_id).attach(conn, len(self.have), now, hold)
        except UnknownSession:
            self.gone = True
        return conn

    def upload(self, now: float, size: int) -> Upload:
        """Send up to `size` of the bytes not yet known to be applied; remember it."""
        up = Upload(self.applied, self.outgoing[self.applied:self.applied + size])
        self.uploads.append(up)
        return up

    def deliver(self, up: Upload, now: float, answer_lost: bool = False) -> int:
        applied = self.store.get(self.session_id).receive(up.offset, up.data, now)
        if not answer_lost:
            self.applied = max(self.applied, applied)
        return applied


class Loop:
    """The transport's part in waking bridges: remember who woke, pump them later.

    A STOMP session is woken in the middle of another session's work (a message it
    published); the bridge asks to be pumped, and `run` does it once that work is done,
    as the reactor would on its next turn.
    """

    def __init__(self) -> None:
        self.woken: list[StompBridge] = []
        self.publishers: list[ServerSession] = []  # TCP-style sessions to resume

    def adopt(self, bridge: StompBridge) -> StompBridge:
        bridge.on_wakeup = lambda: self.woken.append(bridge)
        return bridge

    def run(self) -> None:
        for _ in range(10_000):
            for session in self.publishers:  # a gate opened: read what was held
                if not session.reading_paused:
                    session.resume()
            if not self.woken:
                return
            woken, self.woken = self.woken, []
            for bridge in woken:
                bridge.pump()
        raise AssertionError("wakeups never stop")


class Browser:
    """A STOMP client speaking through a comet session, as the browser client will.

    Frames go up as numbered uploads and come down through whatever request the test
    makes; `frames` are those parsed from the bytes received, in order.
    """

    def __init__(self, store: SessionStore, hub: Hub, clock: StompClock, loop: Loop, *,
                 limits: SessionLimits | None = None) -> None:
        session = store.open(clock.now)
        self.store = store
        self.clock = clock
        self.loop = loop
        self.session = session
        self.bridge = loop.adopt(StompBridge(session, hub, clock=clock, limits=limits))
        self.client = Client(store, session.session_id)
        self.parser = FrameParser()
        self.parsed = 0
        self.frames: list[Frame] = []
        self.version = "1.2"

    def write(self, command: str, headers: dict[str, str] | None = None,
              body: bytes = b"") -> None:
        """Queue a frame to upload (`upload` sends it)."""
        self.client.outgoing += encode_frame(command, list((headers or {}).items()), body,
                                             self.version)

    def upload(self, answer_lost: bool = False) -> None:
        """Upload everything not known to be applied (a retry resends the same bytes)."""
        up = self.client.upload(self.clock.now, self.store.limits.max_upload)
        self.client.deliver(up, self.clock.now, answer_lost)
        self.loop.run()

    def send(self, command: str, headers: dict[str, str] | None = None,
             body: bytes = b"") -> None:
        self.write(command, headers, body)
        while self.client.applied < len(self.client.outgoing):
            self.upload()

    def take(self, conn: Conn) -> list[Frame]:
        """Read every piece `conn` carried; returns the frames that completed."""
        for piece in conn.pieces:
            self.client.read(piece)
        return self.parse()

    def parse(self) -> list[Frame]:
        new = bytes(self.client.have[self.parsed:])
        self.parsed = len(self.client.have)
        frames = self.parser.feed(new)
        self.frames += frames
        return frames

    def poll(self) -> list[Frame]:
        """One long-poll answered at once (hold 0): the frames it brought."""
        conn = self.client.request(Conn("poll"), self.clock.now, hold=0)
        if not conn.pieces and not self.client.gone:
            self.store.tick(self.clock.now)
        return self.take(conn)

    def connect(self, **headers: str) -> Frame:
        self.send("CONNECT", {"accept-version": "1.2", "host": "localhost",
                              "heart-beat": "0,0", **headers})
        (frame,) = self.poll()
        assert frame.command == "CONNECTED", frame
        return frame

    def subscribe(self, destination: str, sub_id: str = "s1", **headers: str) -> None:
        self.send("SUBSCRIBE", {"id": sub_id, "destination": destination,
                                "receipt": f"sub-{sub_id}", **headers})
        frames = self.poll()
        assert [f.command for f in frames][:1] == ["RECEIPT"], frames
