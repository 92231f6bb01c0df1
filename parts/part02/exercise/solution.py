"""Part 2 exercise, solved: the function that turns a frame into bytes.

Check it with `python -m comet_core check 2 --file parts/part02/exercise/solution.py`.
Run it against a broker with `python parts/part02/exercise/solution.py --port 61613`.
"""

from __future__ import annotations

import argparse
import socket
import sys

from comet_core.stomp.frames import Frame, FrameParser

TIMEOUT = 5.0  # seconds to wait for any answer


# start-frame-bytes
def frame_bytes(command: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """The bytes of one STOMP 1.2 frame.

    - the command line, one ``name:value`` line per header, an empty line, the body, a NUL;
    - every line ends with LF (``\\n``); the text is UTF-8;
    - in header names and values, a backslash becomes ``\\\\``, a line feed ``\\n``, a colon
      ``\\c`` and a carriage return ``\\r`` (STOMP 1.2's escapes; CONNECT frames never hold
      these characters here, so they need no exception);
    - when the body is not empty, a ``content-length`` header gives its length in bytes,
      so that a body may contain NUL octets.
    """
    escapes = str.maketrans({"\\": "\\\\", "\n": "\\n", ":": "\\c", "\r": "\\r"})
    lines = [command]
    for name, value in headers.items():
        lines.append(f"{name.translate(escapes)}:{value.translate(escapes)}")
    if body:
        lines.append(f"content-length:{len(body)}")
    head = "\n".join(lines) + "\n\n"
    return head.encode("utf-8") + body + b"\0"
# end-frame-bytes


class Client:
    """A tiny STOMP client: your frames out, comet_core's parser for the answers."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.parser = FrameParser()
        self.frames: list[Frame] = []

    def send(self, command: str, headers: dict[str, str], body: bytes = b"") -> None:
        self.sock.sendall(frame_bytes(command, headers, body))

    def receive(self, expected: str) -> Frame:
        while not self.frames:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"the broker closed the connection; expected {expected}")
            self.frames += self.parser.feed(chunk)
        frame = self.frames.pop(0)
        if frame.command != expected:
            raise ConnectionError(f"expected {expected}, the broker answered {frame.command} "
                                  f"{frame.get('message', '')!r}: {frame.body.decode()!r}")
        return frame


def round_trip(host: str, port: int, destination: str, note: str, body: bytes) -> Frame:
    """Subscribe to `destination`, send to it, and return the MESSAGE that comes back."""
    client = Client(host, port)
    try:
        client.send("CONNECT", {"accept-version": "1.2", "host": "localhost"})
        client.receive("CONNECTED")
        client.send("SUBSCRIBE", {"id": "0", "destination": destination, "receipt": "sub"})
        client.receive("RECEIPT")
        client.send("SEND", {"destination": destination, "note": note}, body)
        message = client.receive("MESSAGE")
        client.send("DISCONNECT", {"receipt": "bye"})
        client.receive("RECEIPT")
        return message
    finally:
        client.sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=61613)
    args = parser.parse_args(argv)
    note, body = "a:b\\c", b"zero\0bytes\0inside"
    try:
        message = round_trip(args.host, args.port, "/topic/exercise", note, body)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"MESSAGE note={message.get('note')!r} body={message.body!r}")
    if (message.get("note"), message.body) != (note, body):
        print(f"error: sent note={note!r} body={body!r}; they came back changed",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
