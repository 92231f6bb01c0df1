"""What the session tests share: a fake clock and a client driving a `ServerSession`.

No network and no reactor: the client encodes frames, feeds them to the session, and parses
what the session wants to send with the project's own codec (whose own tests prove it).
"""

from __future__ import annotations

from comet_core.hub import Hub
from comet_core.stomp.frames import Frame, FrameParser, encode_frame
from comet_core.stomp.session import ServerSession, SessionLimits


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Client:
    """One client's view of one server session."""

    def __init__(self, hub: Hub, clock: Clock, *, limits: SessionLimits | None = None,
                 defer_login: bool = False) -> None:
        self.session = ServerSession(hub, limits=limits, clock=clock, defer_login=defer_login)
        self.version = "1.0"
        self.parser = FrameParser()
        self.beats = 0
        self.wakeups = 0
        self.pending: list[Frame] = []  # read by `subscribe` behind its RECEIPT
        self.session.on_wakeup = self._wake

    def _wake(self) -> None:
        self.wakeups += 1

    def connect(self, version: str = "1.2", heart_beat: str = "0,0", **headers: str) -> Frame:
        self.send("CONNECT", {"accept-version": version, "host": "localhost",
                              "heart-beat": heart_beat, **headers})
        frame = self.expect("CONNECTED")
        self.version = frame.get("version") or "1.0"
        return frame

    def send(self, command: str, headers: dict[str, str] | None = None,
             body: bytes = b"") -> None:
        self.session.receive_data(
            encode_frame(command, list((headers or {}).items()), body, self.version))

    def raw(self, data: bytes) -> None:
        self.session.receive_data(data)

    def read(self) -> list[Frame]:
        """Every frame the session has sent since the last read (beats are counted)."""
        data = self.session.data_to_send()
        self.beats += data.count(b"\n") if data.strip(b"\r\n") == b"" else 0
        frames, self.pending = self.pending + self.parser.feed(data), []
        return frames

    def expect(self, command: str) -> Frame:
        frames = self.read()
        assert [f.command for f in frames] == [command], frames
        return frames[0]

    def subscribe(self, destination: str, sub_id: str = "s1", ack: str = "auto",
                  **headers: str) -> None:
        self.send("SUBSCRIBE", {"id": sub_id, "destination": destination, "ack": ack,
                                "receipt": f"sub-{sub_id}", **headers})
        receipt, *self.pending = self.read()
        assert (receipt.command, receipt.get("receipt-id")) == ("RECEIPT", f"sub-{sub_id}")

    def publish(self, destination: str, body: bytes, **headers: str) -> None:
        self.send("SEND", {"destination": destination, **headers}, body)

    def messages(self) -> list[Frame]:
        frames = self.read()
        assert all(f.command == "MESSAGE" for f in frames), frames
        return frames

    def error(self) -> Frame:
        frame = self.expect("ERROR")
        assert self.session.closed
        return frame


def connected(hub: Hub, clock: Clock, version: str = "1.2", **kw: object) -> Client:
    client = Client(hub, clock, **kw)  # type: ignore[arg-type]
    client.connect(version)
    return client
