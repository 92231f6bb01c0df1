"""A browser-less comet client: STOMP over HTTP long-polling, in plain Python.

It does what the browser client of Part 6 does, with nothing hidden: it opens a comet
session on `python -m comet_core serve`, uploads STOMP frames numbered by byte offset
(a retried upload is applied once), long-polls with ``ack=H`` (H: the bytes it holds) and
drops any bytes it holds already. On top of that it speaks STOMP: CONNECT, SUBSCRIBE,
SEND, and it prints every MESSAGE that arrives, whoever published it: another comet
client, or a backend over TCP (`python parts/part02/publish.py`).

    python parts/part04/client.py --url http://127.0.0.1:8000 /topic/news
    python parts/part04/client.py --url http://127.0.0.1:8000 /topic/news --send "hi all"

The wire protocol is in the docstring of `comet_core.transports.http`.
"""

from __future__ import annotations

import argparse
import http.client
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from comet_core.stomp.frames import Frame, FrameParser, encode_frame

RETRIES = 3  # a request that fails on the network is sent again this many times


class CometFailed(Exception):
    """The server refused a request (its status and message) or could not be reached."""


@dataclass
class Record:
    """One record of a poll or stream body: ``d`` data, ``c`` closed, ``e`` ended."""

    kind: str
    offset: int = 0
    data: bytes = b""
    reason: str = ""


# start-records
class RecordReader:
    """Cuts a poll or stream body into records, however its bytes arrive."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Record]:
        self._buffer += data
        records = []
        while True:
            line_end = self._buffer.find(b"\n")
            if line_end < 0:
                return records
            line = bytes(self._buffer[:line_end])
            if line.startswith(b"d "):
                _, offset, length = line.split(b" ")
                end = line_end + 1 + int(length)
                if len(self._buffer) < end + 1:
                    return records  # the data is not all here yet
                records.append(Record("d", int(offset), bytes(self._buffer[line_end + 1:end])))
                del self._buffer[:end + 1]  # the data, and the LF after it
                continue
            del self._buffer[:line_end + 1]
            if line[:2] in (b"c ", b"e "):
                records.append(Record(line[:1].decode(), reason=line[2:].decode()))
            # an empty line is a keep-alive: nothing to do
# end-records


class CometClient:
    """One comet session, carried by long-polls; see the module docstring."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.base = parts.path.rstrip("/") + "/comet/"
        self.timeout = timeout
        self.session_id = ""
        self.held = 0            # H: downstream bytes held; every poll sends it as ack
        self.closed: str | None = None  # the reason, once the server ended the session
        self.applied = 0         # upstream bytes the server has applied
        self.outbox = bytearray()  # upstream bytes from `applied` on, not yet confirmed
        self._connection: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: bytes = b"") -> bytes:
        """One request, sent again on a network failure; a refusal raises `CometFailed`."""
        for attempt in range(RETRIES + 1):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
            try:
                self._connection.request(method, self.base + path, body)
                response = self._connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._connection.close()
                self._connection = None
                if attempt == RETRIES:
                    raise CometFailed(f"{method} {path}: {exc}") from exc
                continue
            if response.status >= 400:
                raise CometFailed(f"{response.status}: {answer.decode(errors='replace')}")
            return answer
        raise AssertionError("unreachable")

    def open(self) -> None:
        self.session_id = self._request("POST", "").decode("ascii")

    # start-upload
    def send(self, data: bytes) -> None:
        """Upload `data`: the bytes not yet applied, numbered by their offset.

        If the answer is lost, `_request` sends the same bytes at the same offset again,
        and the server skips what it applied the first time: each byte counts once.
        """
        self.outbox += data
        answer = self._request("POST", f"{self.session_id}/send?offset={self.applied}",
                               bytes(self.outbox))
        applied = int(answer)
        del self.outbox[:applied - self.applied]  # the server has these: forget them
        self.applied = applied
    # end-upload

    # start-poll
    def poll(self, hold: float = 30) -> bytes:
        """One long-poll: the new downstream bytes (b"" when the hold time passed)."""
        body = self._request("GET", f"{self.session_id}/poll?ack={self.held}&hold={hold:g}")
        new = bytearray()
        for record in RecordReader().feed(body):
            if record.kind == "d":
                if record.offset > self.held:
                    raise CometFailed(f"a gap: we hold {self.held}, data at {record.offset}")
                fresh = record.data[self.held - record.offset:]  # drop what we hold
                self.held += len(fresh)
                new += fresh
            elif record.kind == "c":
                self.closed = record.reason
        return bytes(new)
    # end-poll

    def close(self) -> None:
        if self.session_id and self.closed is None:
            try:
                self._request("DELETE", self.session_id)
            except CometFailed:
                pass  # already gone: that is what we wanted
        if self._connection is not None:
            self._connection.close()


class StompClient:
    """STOMP 1.2 over a `CometClient`: frames up with `send`, frames down by polling."""

    def __init__(self, comet: CometClient) -> None:
        self.comet = comet
        self.parser = FrameParser(version="1.2")
        self.frames: list[Frame] = []

    def write(self, command: str, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        self.comet.send(encode_frame(command, headers, body))

    def next_frame(self, hold: float = 30) -> Frame:
        """The next frame from the server, polling as long as it takes."""
        while not self.frames:
            if self.comet.closed is not None:
                raise CometFailed(f"the session is closed: {self.comet.closed}")
            self.frames.extend(self.parser.feed(self.comet.poll(hold)))
        frame = self.frames.pop(0)
        if frame.command == "ERROR":
            raise CometFailed(f"ERROR {frame.get('message')}: {frame.body.decode()}")
        return frame

    def expect(self, command: str) -> Frame:
        frame = self.next_frame()
        if frame.command != command:
            raise CometFailed(f"expected {command}, got {frame.command}")
        return frame


# start-main
def talk(url: str, destination: str, send: str | None, count: int) -> None:
    comet = CometClient(url)
    comet.open()
    print(f"opened a comet session ({len(comet.session_id)}-character id)", flush=True)
    stomp = StompClient(comet)
    try:
        stomp.write("CONNECT", [("accept-version", "1.2"), ("host", "comet"),
                                ("heart-beat", "0,0")])
        connected = stomp.expect("CONNECTED")
        print(f"CONNECTED, STOMP {connected.get('version')}", flush=True)
        stomp.write("SUBSCRIBE", [("id", "0"), ("destination", destination),
                                  ("receipt", "subscribed")])
        stomp.expect("RECEIPT")
        print(f"subscribed to {destination}", flush=True)
        if send is not None:
            stomp.write("SEND", [("destination", destination),
                                 ("content-type", "text/plain;charset=utf-8")], send.encode())
        for _ in range(count):
            message = stomp.expect("MESSAGE")
            print(f"MESSAGE on {message.get('destination')}: {message.body.decode()}",
                  flush=True)
        stomp.write("DISCONNECT", [("receipt", "bye")])
        stomp.expect("RECEIPT")
        print(f"disconnected; received {comet.held} bytes, sent {comet.applied}", flush=True)
    finally:
        comet.close()
# end-main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000",
                        help="where `python -m comet_core serve` runs")
    parser.add_argument("destination", help="e.g. /topic/news")
    parser.add_argument("--send", metavar="TEXT", help="publish TEXT once subscribed")
    parser.add_argument("--count", type=int, default=1,
                        help="stop after this many messages (default 1)")
    args = parser.parse_args(argv)
    try:
        talk(args.url, args.destination, args.send, args.count)
    except (CometFailed, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
