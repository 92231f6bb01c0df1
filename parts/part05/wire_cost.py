"""Count what each transport puts on the wire: bytes and requests for N messages.

Against a running `python -m comet_core serve`, for each downstream transport (long-poll,
XHR streaming, Server-Sent Events), one comet client subscribes to a topic and a STOMP
client over TCP publishes N messages of the same size, one at a time (the next one once
the client has the last). Every byte the client's socket receives is counted: status lines,
headers, chunk sizes, records or events, and the STOMP MESSAGE frames inside. The counts
depend on the protocol, not on the machine, so the output is the same on every run.

    python parts/part05/wire_cost.py --url http://127.0.0.1:8000 --stomp-port 61613 \\
        --messages 100 --write parts/part05/results/wire-cost.md
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "part04"))
from client import CometClient, RecordReader, StompClient  # noqa: E402

BODY = b"x" * 64  # each message's body
TRANSPORTS = ("poll", "stream", "sse")


class Wire:
    """One HTTP/1.1 connection whose received bytes are all counted."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.host = host
        self.received = 0
        self.requests = 0
        self._buffer = bytearray()

    def request(self, path: str) -> None:
        self.requests += 1
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.received += len(data)
        self._buffer += data

    def _take(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._more()
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            self._more()
        return self._take(end + 2)[:-2]

    def head(self) -> dict[str, str]:
        status = self._line()
        if not status.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(f"unexpected answer: {status!r}")
        headers = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return headers

    def body(self, headers: dict[str, str]) -> bytes:
        """A whole body with Content-Length (a poll's answer)."""
        return self._take(int(headers["content-length"]))

    def chunk(self) -> bytes:
        """The next chunk of a chunked body (b"" at its end)."""
        size = int(self._line(), 16)
        data = self._take(size)
        self._line()
        return data


def parse_sse(buffer: bytearray) -> list[bytes]:
    """Cut complete events out of `buffer`; return each event's data bytes, decoded."""
    out = []
    while (end := buffer.find(b"\n\n")) >= 0:
        block = bytes(buffer[:end]).split(b"\n")
        del buffer[:end + 2]
        kind, data = b"message", []
        for line in block:
            field, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            if field == b"event":
                kind = value
            elif field == b"data":
                data.append(value)
        if not data:
            continue  # retry:, a comment
        joined = b"\n".join(data)
        out.append(base64.b64decode(joined) if kind == b"b" else joined)
    return out


def stomp_publisher(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(b"CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
    _until(sock, b"CONNECTED")
    return sock


def _until(sock: socket.socket, marker: bytes) -> None:
    seen = b""
    while marker not in seen:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("the broker closed the connection")
        seen += data


def measure(url: str, stomp_port: int, transport: str, messages: int) -> dict[str, float]:
    """Bytes and requests one client's socket takes to receive `messages` messages."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    comet = CometClient(url)
    comet.open()
    stomp = StompClient(comet)
    stomp.write("CONNECT", [("accept-version", "1.2"), ("host", "x"), ("heart-beat", "0,0")])
    stomp.expect("CONNECTED")
    destination = f"/topic/wire-{transport}"
    stomp.write("SUBSCRIBE", [("id", "0"), ("destination", destination), ("receipt", "r")])
    stomp.expect("RECEIPT")
    publisher = stomp_publisher(host, stomp_port)
    wire = Wire(host, port)
    base = f"/comet/{comet.session_id}/{transport}"
    got = 0
    held = comet.held
    parser = StompClient(comet).parser
    streaming = transport != "poll"
    if streaming:
        wire.request(f"{base}?ack={held}")
        wire.head()
    reader, events = RecordReader(), bytearray()
    for n in range(messages):
        frame = b"SEND\ndestination:%s\nreceipt:%d\n\n%s\x00" % (
            destination.encode(), n, BODY)
        publisher.sendall(frame)
        _until(publisher, b"RECEIPT")
        data = b""
        while not data:
            if transport == "poll":
                wire.request(f"{base}?ack={held}")
                records = reader.feed(wire.body(wire.head()))
                data = b"".join(r.data[held - r.offset:] for r in records if r.kind == "d")
            elif transport == "stream":
                records = reader.feed(wire.chunk())
                data = b"".join(r.data[held - r.offset:] for r in records if r.kind == "d")
            else:
                events += wire.chunk()
                data = b"".join(parse_sse(events))
        held += len(data)
        got += sum(f.command == "MESSAGE" for f in parser.feed(data))
    assert got == messages, (got, messages)
    wire.sock.close()
    publisher.close()
    comet.held = held
    comet.close()
    return {"bytes_per_message": wire.received / messages,
            "requests_per_message": wire.requests / messages}


# start-report
def report(url: str, stomp_port: int, messages: int, hold: float, keepalive: float) -> str:
    rows = []
    for transport in TRANSPORTS:
        cost = measure(url, stomp_port, transport, messages)
        idle = 60 / hold if transport == "poll" else 0.0  # an idle stream is never re-opened
        rows.append(f"| {transport} | {cost['bytes_per_message']:.1f} | "
                    f"{cost['requests_per_message']:.2f} | "
                    f"{cost['requests_per_message'] * 60:.0f} | {idle:.0f} |")
    return "\n".join([
        f"{messages} messages of {len(BODY)} bytes each, published one at a time to one "
        "subscriber; bytes counted on the subscriber's socket (HTTP heads, framing, STOMP "
        f"frames). Idle requests follow from the hold time ({hold:g} s); streams send a "
        f"keep-alive every {keepalive:g} s instead.",
        "",
        "| transport | bytes per message | requests per message | requests per minute at "
        "one message a second | requests per minute while idle |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ])
# end-report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--stomp-port", type=int, default=61613)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--hold", type=float, default=30.0, help="the server's --max-hold")
    parser.add_argument("--keepalive", type=float, default=15.0)
    parser.add_argument("--write", metavar="FILE", help="save the Markdown table to FILE too")
    args = parser.parse_args(argv)
    table = report(args.url, args.stomp_port, args.messages, args.hold, args.keepalive)
    sys.stdout.write(table)
    if args.write:
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(table)
        Path(args.write).with_suffix(".json").write_text(json.dumps(
            {"messages": args.messages, "table": table}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
