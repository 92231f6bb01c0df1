"""Part 3: the broker's sans-IO core at work, with no network and a clock we move by hand.

Each function is one section of the page: the codec in any chunking, header escaping per
version, content-length, the bounds, version and heart-beat negotiation, and a session's
heart-beats on a fake clock. The output is the same on every run, so the page shows the
checked-in output and a test proves it is still what the code prints:

    python parts/part03/inside.py                                   # print every section
    python parts/part03/inside.py --write parts/part03/inside.out.txt
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

from comet_core.hub import Hub
from comet_core.stomp.errors import StompError
from comet_core.stomp.frames import FrameParser, encode_frame
from comet_core.stomp.negotiation import heart_beat_intervals, negotiate_version
from comet_core.stomp.session import ServerSession, SessionLimits


def chunks() -> None:
    """One frame fed a byte at a time, then three frames (and heart-beats) in one read."""
    data = encode_frame("SEND", [("destination", "/topic/chat")], b"hi")
    parser = FrameParser()
    for n in range(len(data)):
        frames = parser.feed(data[n:n + 1])
        if frames:
            print(f"byte {n + 1} of {len(data)} completed {frames}")
    burst = data + b"\n\n" + data + b"\r\n" + data
    print(f"one read of {len(burst)} bytes gave {len(parser.feed(burst))} frames")


def escaping() -> None:
    """One header value written by each version, and read back."""
    values = ["a:b\\c", "two\nlines", "ends in CR\r"]
    for version in ("1.0", "1.1", "1.2"):
        for value in values:
            try:
                data = encode_frame("SEND", [("note", value)], b"", version)
            except ValueError as exc:
                print(f"{version} {value!r}: cannot be written ({exc})")
                continue
            line = data.split(b"\n")[1]
            back = FrameParser(version=version).feed(data)[0].get("note")
            print(f"{version} {value!r}: written {line!r}, read back {back!r}")
    try:
        FrameParser(version="1.2").feed(b"SEND\nnote:tab\\there\n\n\0")
    except StompError as exc:
        print(f"1.2 reading b'note:tab\\\\there': {exc}")


def content_length() -> None:
    """A body holding NUL octets needs content-length; without it the frame ends early."""
    data = encode_frame("SEND", [("destination", "/queue/a")], b"ab\0cd")
    print(f"with content-length: {data!r}")
    print(f"  reads back as {FrameParser().feed(data)}")
    parser = FrameParser()
    frames = parser.feed(b"SEND\ndestination:/queue/a\n\nab\0cd\0")
    print(f"without: {frames}, and {parser.buffered} bytes left over")
    try:
        parser.feed(b"SEND\ndestination:/queue/a\n\nnext\0")
    except StompError as exc:
        print(f"  so the next frame cannot be read: {exc}")


def bounds() -> None:
    """Each bound is checked as bytes arrive, and named in the error."""
    try:
        FrameParser(max_headers=2).feed(b"SEND\na:1\nb:2\nc:3\n\n\0")
    except StompError as exc:
        print(f"{type(exc).__name__}: {exc}")
    parser = FrameParser(max_frame_size=64)
    try:
        parser.feed(b"SEND\ndestination:/queue/a\n\n" + b"x" * 100)  # no NUL yet
    except StompError as exc:
        print(f"{type(exc).__name__} before the frame even ended: {exc.message}")
    session = ServerSession(Hub(), limits=SessionLimits(max_frame_size=256), session_id="s1")
    session.receive_data(b"CONNECT\naccept-version:1.2\n\n\0")
    session.data_to_send()  # the CONNECTED frame
    session.receive_data(b"SEND\ndestination:/queue/a\n\n" + b"x" * 1000 + b"\0")
    print(f"the session answers {session.data_to_send()!r}")
    print(f"and is now {session.state.value!r}")


def negotiation() -> None:
    """What CONNECT's accept-version and heart-beat headers settle on."""
    for offered in (None, "1.0,1.1", "1.1,1.2", "2.0"):
        print(f"accept-version {offered!r}: {negotiate_version(offered)}")
    client, server = (5000, 2000), (1000, 1000)
    to_client, to_server = heart_beat_intervals(client, server)
    print(f"heart-beat: client {client}, server {server}: the server beats every "
          f"{to_client} ms, the client every {to_server} ms")


class Clock:
    """A clock that only moves when we say so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def heartbeats() -> None:
    """A session on a fake clock: it beats every 2 s and drops a client silent for 10 s."""
    clock = Clock()
    session = ServerSession(Hub(), clock=clock, session_id="s2")
    session.receive_data(b"CONNECT\naccept-version:1.2\nheart-beat:5000,2000\n\n\0")
    print(f"t=0: {session.data_to_send()!r}")
    while not session.closed:
        clock.now = session.next_deadline()
        session.tick()
        print(f"t={clock.now:g}: {session.data_to_send()!r}")
        if clock.now == 4:
            clock.now = 5
            session.receive_data(b"\n")  # the client's only beat
            print("t=5: the client sends b'\\n'")


SECTIONS = [chunks, escaping, content_length, bounds, negotiation, heartbeats]


def run_all() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for section in SECTIONS:
            print(f"== {section.__name__} ==")
            section()
        print("== end ==")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, metavar="FILE", help="write the output to FILE")
    args = parser.parse_args(argv)
    text = run_all()
    if args.write:
        args.write.write_text(text)
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
