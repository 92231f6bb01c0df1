"""The same losses replayed against a comet session, by hand: nothing is lost this time.

Drives `comet_core.comet.SessionStore` and one `CometSession` with no network and a clock
moved by hand. A "poll" here is a `Waiter` that prints what it would answer; the bytes
the client keeps are counted the way a real client counts them (H, its ack). Run it with
`python parts/part04/by_hand.py`; `--write FILE` saves the output the page shows.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys

from comet_core.comet import CometLimits, SessionStore


class Poll:
    """One long-poll request, as the session sees it: a Waiter that prints its answer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.answer: tuple[int, bytes] | None = None

    def send(self, offset: int, data: bytes, closed: str | None) -> bool:
        self.answer = (offset, data)
        print(f"   {self.name} answered: offset {offset}, {data!r}"
              + (f", then closed: {closed}" if closed else ""))
        return False  # a long-poll carries one answer

    def idle(self, now: float) -> float | None:
        self.answer = (-1, b"")
        print(f"   t={now:g}: {self.name} held for the hold time: answered empty")
        return None

    def finish(self, reason: str) -> None:
        print(f"   {self.name} ended: {reason}")


class Printer:
    """The app at the server's end: prints the client's bytes as it gets them."""

    def data_received(self, data: bytes) -> None:
        print(f"   the app got {data!r}")

    def resume_writing(self) -> None:
        pass

    def session_closed(self, reason: str) -> None:
        print(f"   the app was told: {reason}")

    def next_deadline(self) -> float | None:
        return None

    def tick(self, now: float) -> None:
        pass


# start-keep
def keep(held: bytearray, offset: int, data: bytes) -> None:
    """The client's side: add the bytes from H on, drop those it holds already."""
    h = len(held)
    if offset > h:
        raise ValueError(f"a gap: the client holds {h} bytes, the data starts at {offset}")
    held += data[h - offset:]
# end-keep


def story() -> None:
    store = SessionStore(CometLimits(max_hold=30, idle_timeout=60))
    session = store.open(now=0)
    session.app = Printer()
    held = bytearray()  # what the client holds; len(held) is H, its ack

    def poll(name: str, now: float) -> Poll:
        waiter = Poll(name)
        print(f"   {name}: GET poll?ack={len(held)}")
        session.attach(waiter, ack=len(held), now=now)
        return waiter

    # start-between
    print("== between two polls ==")
    first = poll("poll 1", now=0)
    session.write(b"one", now=1)
    keep(held, *first.answer)
    print(f"   the client holds {bytes(held)!r}; meanwhile the server writes 'two'")
    session.write(b"two", now=2)  # nobody is polling: kept, not lost
    second = poll("poll 2", now=3)
    keep(held, *second.answer)
    print(f"   the client holds {bytes(held)!r}")

    print("== an answer lost on its way ==")
    poll("poll 3", now=4)
    session.write(b"three", now=5)
    print("   ...the connection drops: the client never sees poll 3's answer")
    retry = poll("poll 4", now=6)  # same ack as poll 3: the bytes are sent again
    keep(held, *retry.answer)
    print(f"   the client holds {bytes(held)!r}")
    print("   a late copy of poll 3's answer turns up after all:")
    keep(held, 6, b"three")
    print(f"   the client drops the bytes it has: holds {bytes(held)!r}")
    # end-lost

    # start-upload
    print("== an upload retried ==")
    print(f"   POST send?offset=0 'hello': applied {session.receive(0, b'hello', now=7)}")
    print("   ...the answer is lost, so the client sends the same bytes again:")
    print(f"   POST send?offset=0 'hello': applied {session.receive(0, b'hello', now=8)}")
    print("   and then the retry merged with new bytes:")
    print(f"   POST send?offset=0 'hello world': applied "
          f"{session.receive(0, b'hello world', now=9)}")
    # end-upload

    # start-time
    print("== the hold time, and a client that goes away ==")
    poll("poll 5", now=10)
    print(f"   the session's next deadline: t={session.next_deadline():g}")
    store.tick(now=40)
    print(f"   no request since; next deadline: t={session.next_deadline():g}")
    store.tick(now=100)
    print(f"   sessions left in the store: {len(store)}")
    # end-time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="FILE", help="save the output to FILE as well")
    args = parser.parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        story()
    sys.stdout.write(out.getvalue())
    if args.write:
        with open(args.write, "w", encoding="utf-8") as file:
            file.write(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
