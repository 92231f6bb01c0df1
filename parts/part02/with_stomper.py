"""Part 2: the same conversation, with frames built by stomper.

stomper is the STOMP library of the Orbited era: it builds frames as `str` (STOMP 1.1, no
content-length) and leaves the socket to you. Here it builds every frame we send; the
broker's answers are read with comet_core's own codec (`FrameParser`), because stomper's
parser takes text only and cannot be trusted with a body that holds a NUL octet.

    python parts/part02/with_stomper.py --port 61613
"""

from __future__ import annotations

import argparse
import socket
import sys

import stomper

from comet_core.stomp.frames import Frame, FrameParser

TIMEOUT = 5.0  # seconds to wait for any answer


class Connection:
    """A socket that sends stomper's text frames and returns the broker's frames."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.parser = FrameParser()
        self.frames: list[Frame] = []

    def send(self, frame_text: str) -> None:
        self.sock.sendall(frame_text.encode("utf-8"))  # stomper's frames are str

    def receive(self) -> Frame:
        while not self.frames:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            self.frames += self.parser.feed(chunk)
        return self.frames.pop(0)

    def close(self) -> None:
        self.sock.close()


def show(frame: Frame) -> None:
    headers = " ".join(f"{name}:{value}" for name, value in frame.headers)
    body = f" body={frame.body!r}" if frame.body else ""
    print(f"<- {frame.command} {headers}{body}")


# start-stomper
def with_receipt(frame_text: str, receipt: str) -> str:
    """Add a receipt header to a frame stomper built (its builders take no receipt)."""
    frame = stomper.Frame()
    frame.unpack(frame_text)
    frame.headers["receipt"] = receipt
    return frame.pack()


def converse(conn: Connection, destination: str, text: str) -> Frame:
    """CONNECT, SUBSCRIBE, SEND and DISCONNECT, built by stomper; returns the MESSAGE."""
    conn.send(stomper.connect("guest", "guest", "localhost"))
    show(conn.receive())  # CONNECTED
    conn.send(with_receipt(stomper.subscribe(destination, "0"), "sub-0"))
    show(conn.receive())  # RECEIPT: the subscription exists
    conn.send(stomper.send(destination, text))
    message = conn.receive()
    show(message)  # our own message, back from the topic
    conn.send(stomper.disconnect(receipt="bye"))
    show(conn.receive())  # RECEIPT: everything before DISCONNECT was handled
    return message
# end-stomper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=61613)
    parser.add_argument("--destination", default="/topic/chat")
    parser.add_argument("text", nargs="?", default="Hello from stomper!")
    args = parser.parse_args(argv)
    try:
        conn = Connection(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot reach a broker at {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        message = converse(conn, args.destination, args.text)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0 if message.command == "MESSAGE" else 1


if __name__ == "__main__":
    sys.exit(main())
