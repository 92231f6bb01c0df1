"""Part 3: a work queue with client-individual acknowledgements, NACK and redelivery.

Two workers, ann and bob, take jobs from /queue/jobs with stomp.py, one job at a time
(``prefetch-count:1``). Each step waits for its effect before the next one, so the story is
the same on every run:

    python parts/part03/work_queue.py --port 61613
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import uuid

import stomp
from stomp.exception import ConnectFailedException
from stomp.utils import Frame

TIMEOUT = 10.0  # seconds to wait for anything the broker should do


class Client(stomp.ConnectionListener):
    """A stomp.py connection whose messages, receipts and errors can be waited for."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self.messages: queue.Queue[Frame] = queue.Queue()
        self.receipts: queue.Queue[str] = queue.Queue()
        self.gone = threading.Event()
        self.conn = stomp.Connection12([(host, port)])
        self.conn.set_listener(name, self)
        self.conn.connect(wait=True)

    def on_message(self, frame: Frame) -> None:
        self.messages.put(frame)

    def on_receipt(self, frame: Frame) -> None:
        self.receipts.put(frame.headers["receipt-id"])

    def on_error(self, frame: Frame) -> None:
        print(f"{self.name} got ERROR {frame.headers.get('message')}: {frame.body}")

    def on_disconnected(self) -> None:
        self.gone.set()

    def confirmed(self, receipt: str) -> None:
        if self.receipts.get(timeout=TIMEOUT) != receipt:
            raise RuntimeError(f"{self.name}: receipts came out of order")

    def receive(self) -> Frame:
        frame = self.messages.get(timeout=TIMEOUT)
        again = " (redelivered)" if frame.headers.get("redelivered") == "true" else ""
        print(f"{self.name} got {frame.body}{again}")
        return frame

    def leave(self) -> None:
        self.conn.disconnect()  # DISCONNECT, and wait for its RECEIPT
        if not self.gone.wait(TIMEOUT):
            raise RuntimeError(f"{self.name} could not disconnect")


# start-story
def story(host: str, port: int) -> None:
    jobs = f"/queue/jobs-{uuid.uuid4().hex[:8]}"  # a fresh queue for every run
    boss = Client("boss", host, port)
    for n in (1, 2, 3):
        boss.conn.send(jobs, f"job-{n}", receipt=f"job-{n}")
        boss.confirmed(f"job-{n}")
    print("boss sent job-1, job-2, job-3; nobody is subscribed yet, so they wait")

    ann, bob = Client("ann", host, port), Client("bob", host, port)
    ann.conn.subscribe(jobs, id="1", ack="client-individual", headers={"prefetch-count": "1"})
    job = ann.receive()
    print("ann cannot do it yet: NACK")
    ann.conn.nack(job.headers["ack"])
    job = ann.receive()

    bob.conn.subscribe(jobs, id="1", ack="client-individual", headers={"prefetch-count": "1"})
    bob.receive()
    print("bob disconnects without acknowledging it")
    bob.leave()

    while True:  # ann works through the rest, one job at a time
        print(f"ann acknowledges {job.body}")
        ann.conn.ack(job.headers["ack"])
        if job.body == "job-3":
            break
        job = ann.receive()
    ann.leave()
    boss.leave()
# end-story


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=61613)
    args = parser.parse_args(argv)
    try:
        story(args.host, args.port)
    except ConnectFailedException:
        print(f"error: cannot connect to a broker at {args.host}:{args.port}", file=sys.stderr)
        return 1
    except (queue.Empty, RuntimeError) as exc:
        print(f"error: the broker did not do what the story expects: {exc!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
