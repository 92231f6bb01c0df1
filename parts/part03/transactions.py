"""Part 3: transactions. SENDs inside BEGIN...COMMIT go out together; ABORT drops them.

A shop publishes orders to a topic inside transactions, with stomp.py; a watcher subscribed
to the topic prints what it receives, in the order it receives it:

    python parts/part03/transactions.py --port 61613
"""

from __future__ import annotations

import argparse
import queue
import sys
import uuid

import stomp
from stomp.exception import ConnectFailedException
from stomp.utils import Frame

TIMEOUT = 10.0  # seconds to wait for anything the broker should do


class Listener(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.bodies: queue.Queue[str] = queue.Queue()
        self.receipts: queue.Queue[str] = queue.Queue()

    def on_message(self, frame: Frame) -> None:
        self.bodies.put(frame.body)

    def on_receipt(self, frame: Frame) -> None:
        self.receipts.put(frame.headers["receipt-id"])

    def on_error(self, frame: Frame) -> None:
        self.bodies.put(f"ERROR {frame.headers.get('message')}")


def connect(host: str, port: int) -> tuple[stomp.Connection12, Listener]:
    conn = stomp.Connection12([(host, port)])
    listener = Listener()
    conn.set_listener("listener", listener)
    conn.connect(wait=True)
    return conn, listener


# start-shop
def shop(conn: stomp.Connection12, orders: str) -> None:
    conn.begin("tx-1")
    conn.send(orders, "order-1", transaction="tx-1")
    conn.send(orders, "order-2", transaction="tx-1")
    conn.abort("tx-1")  # order-1 and order-2 never go out

    conn.begin("tx-2")
    conn.send(orders, "order-3", transaction="tx-2")
    conn.send(orders, "order-4", transaction="tx-2")
    conn.send(orders, "not in a transaction")  # goes out at once
    conn.commit("tx-2")  # order-3 and order-4 go out now, together
    conn.send(orders, "closing time")
# end-shop


def run(host: str, port: int) -> list[str]:
    """What the watcher receives while the shop runs, in order."""
    orders = f"/topic/orders-{uuid.uuid4().hex[:8]}"
    watcher, seen = connect(host, port)
    watcher.subscribe(orders, id="1", receipt="watching")
    if seen.receipts.get(timeout=TIMEOUT) != "watching":
        raise RuntimeError("the subscription was not confirmed")
    shop_conn, _ = connect(host, port)
    shop(shop_conn, orders)
    received: list[str] = []
    while "closing time" not in received:
        received.append(seen.bodies.get(timeout=TIMEOUT))
        if received[-1].startswith("ERROR"):
            break
    shop_conn.disconnect()
    watcher.disconnect()
    return received


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=61613)
    args = parser.parse_args(argv)
    try:
        received = run(args.host, args.port)
    except ConnectFailedException:
        print(f"error: cannot connect to a broker at {args.host}:{args.port}", file=sys.stderr)
        return 1
    except (queue.Empty, RuntimeError) as exc:
        print(f"error: the broker did not do what the shop expects: {exc!r}", file=sys.stderr)
        return 1
    for body in received:
        print(f"the watcher received: {body}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
