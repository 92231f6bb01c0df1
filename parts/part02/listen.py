"""Part 2: a stomp.py client that subscribes to a destination and prints what arrives.

    python parts/part02/listen.py /topic/news              # until Ctrl-C
    python parts/part02/listen.py /topic/news --count 3    # exit after three messages

It prints "listening to DESTINATION" once the broker has confirmed the subscription (with a
RECEIPT), so a message published after that line is sure to arrive.
"""

from __future__ import annotations

import argparse
import sys
import threading

import stomp
from stomp.exception import ConnectFailedException
from stomp.utils import Frame

SUBSCRIBED = "subscribed"
TIMEOUT = 10.0  # seconds to wait for the broker to confirm the subscription


# start-listener
class Printer(stomp.ConnectionListener):
    """stomp.py calls these methods from its receiver thread, one per frame received."""

    def __init__(self, destination: str, count: int) -> None:
        self.destination = destination
        self.count = count  # stop after this many messages (0: never)
        self.received = 0
        self.subscribed = threading.Event()
        self.done = threading.Event()
        self.error: str | None = None

    def on_receipt(self, frame: Frame) -> None:
        if frame.headers.get("receipt-id") == SUBSCRIBED:
            print(f"listening to {self.destination}", flush=True)
            self.subscribed.set()

    def on_message(self, frame: Frame) -> None:
        print(f"{frame.headers['destination']}: {frame.body}", flush=True)
        self.received += 1
        if self.count and self.received >= self.count:
            self.done.set()

    def on_error(self, frame: Frame) -> None:
        self.error = f"{frame.headers.get('message')}: {frame.body}"
        self.subscribed.set()
        self.done.set()

    def on_heartbeat_timeout(self) -> None:
        self.error = "the broker's heart-beats stopped: it is gone"

    def on_disconnected(self) -> None:
        if not self.done.is_set() and self.error is None:
            self.error = "the broker closed the connection"
        self.subscribed.set()
        self.done.set()
# end-listener


# start-listen
def listen(destination: str, count: int, host: str, port: int,
           login: str | None = None, passcode: str | None = None) -> str | None:
    """Print the messages sent to `destination`; return an error, or None when done."""
    conn = stomp.Connection12([(host, port)], heartbeats=(10000, 10000))
    printer = Printer(destination, count)
    conn.set_listener("printer", printer)
    conn.connect(login, passcode, wait=True)
    conn.subscribe(destination, id="1", ack="auto", receipt=SUBSCRIBED)
    if not printer.subscribed.wait(TIMEOUT):
        return f"the broker did not confirm the subscription within {TIMEOUT:g} s"
    printer.done.wait()  # until enough messages, an ERROR, or Ctrl-C
    if conn.is_connected():
        conn.disconnect()
    return printer.error
# end-listen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("destination", help="e.g. /topic/news or /queue/jobs")
    parser.add_argument("--count", type=int, default=0, help="exit after this many messages")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=61613)
    parser.add_argument("--login")
    parser.add_argument("--passcode")
    args = parser.parse_args(argv)
    try:
        error = listen(args.destination, args.count, args.host, args.port,
                       args.login, args.passcode)
    except ConnectFailedException:
        error = f"could not connect to a broker at {args.host}:{args.port}"
    except KeyboardInterrupt:
        return 0
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
