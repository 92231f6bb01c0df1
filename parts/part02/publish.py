"""Part 2: publish one message from a backend (a web application, a cron job, a script).

    python parts/part02/publish.py /topic/news "The kettle is on"

It connects, sends, waits for the broker's RECEIPT (so it knows the message was handled, not
merely written to a socket), and disconnects. The exit status says whether it worked, and an
error says why not. Import `publish` to do the same from your own code.
"""

from __future__ import annotations

import argparse
import sys
import threading

import stomp
from stomp.exception import ConnectFailedException
from stomp.utils import Frame

PUBLISHED = "published"


class PublishError(Exception):
    """The broker refused the message, or did not confirm it in time."""


class Outcome(stomp.ConnectionListener):
    """Waits for the RECEIPT of the SEND, or an ERROR instead."""

    def __init__(self) -> None:
        self.settled = threading.Event()
        self.error: str | None = None

    def on_receipt(self, frame: Frame) -> None:
        if frame.headers.get("receipt-id") == PUBLISHED:
            self.settled.set()

    def on_error(self, frame: Frame) -> None:
        self.error = f"{frame.headers.get('message')}: {frame.body}"
        self.settled.set()

    def on_disconnected(self) -> None:
        if not self.settled.is_set():
            self.error = self.error or "the connection closed before the broker confirmed"
            self.settled.set()


# start-publish
def publish(destination: str, body: str, *, host: str = "127.0.0.1", port: int = 61613,
            login: str | None = None, passcode: str | None = None,
            timeout: float = 10.0) -> None:
    """Send one message; return once the broker has handled it, raise PublishError if not."""
    conn = stomp.Connection12([(host, port)])
    outcome = Outcome()
    conn.set_listener("outcome", outcome)
    try:
        conn.connect(login, passcode, wait=True)
    except ConnectFailedException:
        raise PublishError(outcome.error or f"cannot connect to {host}:{port}") from None
    try:
        conn.send(destination, body, content_type="text/plain", receipt=PUBLISHED)
        if not outcome.settled.wait(timeout):
            raise PublishError(f"no receipt from the broker within {timeout:g} s")
        if outcome.error is not None:
            raise PublishError(outcome.error)
    finally:
        if conn.is_connected():
            conn.disconnect()
# end-publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("destination", help="e.g. /topic/news or /queue/jobs")
    parser.add_argument("body", help="the message text")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=61613)
    parser.add_argument("--login")
    parser.add_argument("--passcode")
    args = parser.parse_args(argv)
    try:
        publish(args.destination, args.body, host=args.host, port=args.port,
                login=args.login, passcode=args.passcode)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"published to {args.destination}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
