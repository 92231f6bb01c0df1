"""Part 2: the STOMP conversation of the page, typed by a script instead of by hand.

The page shows what you type into `nc 127.0.0.1 61613` and what the broker answers. This
script sends the same keystrokes over a socket, one step at a time, and records the answers,
so that the transcript on the page comes from a real run, and a test proves it still holds:

    python parts/part02/conversation.py --port 61613        # print both conversations
    python parts/part02/conversation.py --port 61613 --write parts/part02/transcript

In the typed text ^@ stands for the NUL octet that ends a frame (Ctrl-@ in a terminal), and
every line ends with the LF that the Enter key sends.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from comet_core.stomp.frames import Frame, FrameParser

NUL_SIGN = "^@"
TIMEOUT = 5.0  # seconds to wait for any answer


@dataclass(frozen=True)
class Step:
    """One frame typed into the terminal, and what the broker should do about it."""

    name: str
    typed: str  # as typed: one line per Enter, ^@ for the NUL
    answers: int = 1  # frames the broker sends back
    closes: bool = False  # the broker closes the connection after answering


# start-chat
CHAT = [
    Step("connect", "CONNECT\naccept-version:1.2\nhost:localhost\n\n^@\n"),
    Step("subscribe", "SUBSCRIBE\nid:0\ndestination:/topic/chat\nreceipt:sub-0\n\n^@\n"),
    Step("send", "SEND\ndestination:/topic/chat\ncontent-type:text/plain\n\nHello, STOMP!^@\n"),
    Step("disconnect", "DISCONNECT\nreceipt:bye\n\n^@\n", closes=True),
]
# end-chat

# start-typo
TYPO = [
    Step("connect", "CONNECT\naccept-version:1.2\nhost:localhost\n\n^@\n"),
    Step("send", "SEND\ndestination:chat\n\nHello?^@\n", closes=True),
]
# end-typo

CONVERSATIONS = {"chat": CHAT, "typo": TYPO}


def keystrokes(typed: str) -> bytes:
    """The bytes a terminal sends for `typed`: ^@ becomes the NUL octet."""
    return typed.replace(NUL_SIGN, "\0").encode()


def shown(data: bytes) -> str:
    """Bytes as a terminal page shows them: NUL as ^@, each frame on its own lines."""
    return data.decode("utf-8", "replace").replace("\0", NUL_SIGN + "\n")


def byte_lines(data: bytes) -> str:
    """Bytes as Python literals, one line of the wire per line: nothing hidden."""
    pieces = re.findall(rb"[^\n\0]*[\n\0]|[^\n\0]+$", data)
    return "".join(f"{piece!r}\n" for piece in pieces)


class Broker:
    """A socket to the broker, reading whole frames with comet_core's codec."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.parser = FrameParser()

    def say(self, step: Step) -> tuple[bytes, list[Frame]]:
        """Send the step's keystrokes; return the bytes and frames of the broker's answer."""
        self.sock.sendall(keystrokes(step.typed))
        received, frames = b"", []
        while len(frames) < step.answers:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"the broker closed the connection at step {step.name!r}"
                                      f" after answering {received!r}")
            received += chunk
            frames += self.parser.feed(chunk)
        if len(frames) != step.answers:
            raise AssertionError(f"step {step.name!r}: expected {step.answers} frame(s), "
                                 f"got {[f.command for f in frames]}")
        if step.closes:
            self.expect_close(step)
        return received, frames

    def expect_close(self, step: Step) -> None:
        extra = self.sock.recv(65536)  # raises TimeoutError if the broker keeps it open
        if extra:
            raise AssertionError(f"after step {step.name!r} the broker sent {extra!r} "
                                 "instead of closing the connection")

    def close(self) -> None:
        self.sock.close()


def record(host: str, port: int, steps: list[Step]) -> tuple[str, str]:
    """Run one conversation; return its transcript as shown on the page, and as bytes."""
    broker = Broker(host, port)
    shown_text, bytes_text = [], []
    try:
        for step in steps:
            answer, _ = broker.say(step)
            typed = keystrokes(step.typed)
            shown_text += [f"== {step.name}: you type ==\n", step.typed,
                           f"== {step.name}: the broker answers ==\n", shown(answer)]
            bytes_text += [f"== {step.name}: you type ==\n", byte_lines(typed),
                           f"== {step.name}: the broker answers ==\n", byte_lines(answer)]
    finally:
        broker.close()
    return "".join(shown_text) + "== end ==\n", "".join(bytes_text) + "== end ==\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=61613)
    parser.add_argument("--write", type=Path, metavar="DIR",
                        help="write NAME.txt and NAME.bytes.txt per conversation into DIR")
    args = parser.parse_args(argv)
    for name, steps in CONVERSATIONS.items():
        try:
            text, raw = record(args.host, args.port, steps)
        except (OSError, AssertionError) as exc:
            print(f"error: conversation {name!r}: {exc}", file=sys.stderr)
            return 1
        if args.write:
            args.write.mkdir(parents=True, exist_ok=True)
            (args.write / f"{name}.txt").write_text(text)
            (args.write / f"{name}.bytes.txt").write_text(raw)
            print(f"wrote {args.write / name}.txt and {name}.bytes.txt")
        else:
            print(f"### conversation {name!r}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
