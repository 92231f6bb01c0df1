"""The load of `bench comet`: thousands of idle Comet clients in one process, on raw sockets.

Run by the benchmark as ``python -m comet_core.bench.comet_clients SPEC`` (SPEC is JSON),
several processes at once, each well under the open-file limit. A process sets up its
share of clients with asyncio, reports on stdout (one JSON line) when all are held, then
waits for the published message and reports when each client had it:

    {"ready": k, "errors": {...}, "setup_s": s}
    {"arrived": [monotonic seconds, ...], "errors": {...}, "waiting": w, "repolls": r,
     "cpu_s": CPU seconds this process used while waiting (mostly reading the message)}

A line ``stop`` on stdin makes it report what it has at once. Every wait has a deadline.

The clients are written for the benchmark, not taken from `comet_core`: they speak just
enough HTTP/1.1 and find the message by searching the raw bytes for a marker, so that the
client side stays cheap and shares none of the server's code. The wait for the message
runs on a bare `select.epoll` loop rather than asyncio's, because at the release every
client process must take thousands of reads at once, and what those reads cost the client
is added to every figure: the bare loop costs a few microseconds a read. The arrival time
is `time.monotonic()` as each read returns, the clock every process on the machine shares.
A client that has the message keeps its connection open and idle (it does not ask
again), so that the server's work during the release is the fan-out alone.

Kinds of client (``SPEC["server"]``, ``SPEC["transport"]``):

- ``comet``: a session on `serve`'s ``/comet/`` endpoints (wire format in
  `comet_core.transports.http`), all on one keep-alive connection: open, upload a STOMP
  CONNECT and a SUBSCRIBE with a receipt, read until the RECEIPT, then hold a long-poll,
  an XHR stream or an SSE stream. A long-poll the server answers without data (its hold
  bound) is asked again, as a real client does.
- ``baseline``: Part 1's ``GET /poll``, set up by Part 1's own client (`PollClient` in
  parts/part01/loadtest.py).
- ``nchan``: nginx's Nchan module: a long-poll (asked again after Nchan's timeout), an
  EventSource or a raw stream request on one channel.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import json
import os
import re
import select
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_HEAD = 16 * 1024  # bytes of a response head before it counts as a bad answer
MAX_BODY = 1 << 20  # bytes of one answer a client keeps; more is a bad answer
TAIL = 256  # bytes of a stream kept between reads, so that a marker split in two is found
RECEIPT = b"receipt-id:bench-sub"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
ARRIVED, REPOLL = "arrived", "repoll"


class Held:
    """A client waiting for the message: what it reads is searched, not parsed.

    `feed` says what a read means: ARRIVED (the marker is there), REPOLL (a complete
    answer without it: ask again with `repoll()`), a failure's description, or None.
    """

    __slots__ = ("marker", "repoll", "buf", "head", "advance")

    def __init__(self, marker: bytes, repoll: Callable[[], bytes] | None, *, head: bool,
                 advance: Callable[[bytes], None] | None = None, buf: bytes = b"") -> None:
        self.marker = marker
        self.repoll = repoll  # None: a complete answer without the marker is a failure
        self.head = head  # a response head is still to come
        self.advance = advance  # told each complete answer's body (a comet poll's records)
        self.buf = bytearray(buf)

    def feed(self, data: bytes) -> str | None:
        buf = self.buf
        buf += data
        if self.marker in buf:
            return ARRIVED
        while self.head:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return "bad answer: head too long" if len(buf) > MAX_HEAD else None
            status = bytes(buf[9:12])
            if status not in (b"200", b"304", b"408"):
                return f"HTTP {status.decode(errors='replace')} while held"
            m = CONTENT_LENGTH.search(buf, 0, end + 2)
            if m is None:  # a stream: from here on only searched
                self.head = False
                del buf[:end + 4]
                break
            size = end + 4 + int(m.group(1))
            if len(buf) < size:
                return None if len(buf) < MAX_BODY else "bad answer: body too large"
            if self.repoll is None:
                return "answered without the message"
            if self.advance is not None:
                self.advance(bytes(buf[end + 4:size]))
            del buf[:size]
            return REPOLL
        if b"\r\n0\r\n\r\n" in buf:
            return "stream ended by the server"
        del buf[:-TAIL]
        return None


class Tracker:
    """The setup's tally in one process: how many are held, what went wrong."""

    def __init__(self) -> None:
        self.ready = 0
        self.errors: Counter[str] = Counter()
        self.repolls = 0


class Client(asyncio.Protocol):
    """One client while it is set up with asyncio; `held` once it waits for the message."""

    def __init__(self, spec: dict[str, Any], tracker: Tracker, done: asyncio.Event) -> None:
        self.spec = spec
        self.tracker = tracker
        self.done = done  # set once: held, or failed
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.held: Held | None = None
        self.failure: str | None = None
        self.marker = spec["marker"].encode()

    def hold(self, held: Held) -> None:
        self.held = held
        self.tracker.ready += 1
        self.done.set()

    def failed(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
            if self.held is not None:
                self.tracker.ready -= 1
                self.held = None
            self.tracker.errors[f"{why} ({'while held' if self.done.is_set() else 'setup'})"] += 1
            self.done.set()
            if self.transport is not None:
                self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self.failed("connection reset" if exc else "connection closed by the server")

    def data_received(self, data: bytes) -> None:
        if self.failure is not None:
            return
        if self.held is not None:  # held while others are still being set up
            outcome = self.held.feed(data)
            if outcome == REPOLL and self.transport is not None and self.held.repoll:
                self.tracker.repolls += 1
                self.transport.write(self.held.repoll())
            elif outcome == ARRIVED:
                self.failed("the message came before it was published")
            elif outcome is not None:
                self.failed(outcome)
            return
        self.buf += data
        self.setup_data()

    def start(self) -> None:
        raise NotImplementedError

    def setup_data(self) -> None:
        raise NotImplementedError

    def request(self, method: str, target: str, body: bytes = b"", extra: str = "") -> None:
        assert self.transport is not None
        self.transport.write(http_request(self.spec["host"], method, target, body, extra))

    def take_response(self) -> tuple[int, bytes] | None:
        """A whole Content-Length response from the start of `buf`, removed from it."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self.failed("bad answer: head too long")
            return None
        try:
            status = int(self.buf[9:12])
        except ValueError:
            self.failed("bad answer: no status line")
            return None
        m = CONTENT_LENGTH.search(self.buf, 0, end + 2)
        size = end + 4 + (int(m.group(1)) if m else 0)
        if size > MAX_BODY:
            self.failed("bad answer: body too large")
            return None
        if len(self.buf) < size:
            return None
        body = bytes(self.buf[end + 4:size])
        del self.buf[:size]
        return status, body


def http_request(host: str, method: str, target: str, body: bytes = b"",
                 extra: str = "") -> bytes:
    if method == "GET":
        return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
    return (f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class CometClient(Client):
    """A comet session on `serve`: open, STOMP CONNECT + SUBSCRIBE, then held."""

    def start(self) -> None:
        self.base = self.spec["path"].rstrip("/")
        self.sid = ""
        self.ack = 0  # downstream bytes held (the H of the wire format)
        self.seen = bytearray()  # STOMP bytes read during the setup
        self.step = "open"
        self.request("POST", self.base + "/", extra="Content-Type: text/plain\r\n")

    def setup_data(self) -> None:
        while self.failure is None and self.held is None:
            if self.step == "stream":
                return self.stream_data()
            response = self.take_response()
            if response is None:
                return None
            self.on_response(*response)
        return None

    def on_response(self, status: int, body: bytes) -> None:
        if self.step == "open":
            if status != 201:
                return self.failed(f"HTTP {status} on open: {body[:60].decode(errors='replace')}")
            self.sid = body.decode().strip()
            frames = (b"CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\x00"
                      b"SUBSCRIBE\nid:0\ndestination:%s\nreceipt:bench-sub\n\n\x00"
                      % self.spec["destination"].encode())
            self.step = "send"
            self.request("POST", f"{self.base}/{self.sid}/send?offset=0", frames,
                         extra="Content-Type: text/plain\r\n")
        elif self.step == "send":
            if status != 200:
                return self.failed(f"HTTP {status} on send: {body[:60].decode(errors='replace')}")
            if self.spec["transport"] == "longpoll":
                self.step = "poll"
                self.request("GET", self.poll_target())
            else:
                self.step = "stream"
                sse = self.spec["transport"] == "sse"
                self.request("GET", f"{self.base}/{self.sid}/{'sse' if sse else 'stream'}"
                             f"?ack=0", extra="Accept: text/event-stream\r\n" if sse else "")
        elif self.step == "poll":
            if status != 200:
                return self.failed(f"HTTP {status} on poll: {body[:60].decode(errors='replace')}")
            data = self.records(body)
            if data is None:
                return None
            self.seen += data
            self.request("GET", self.poll_target())  # read on; or, once subscribed, held
            if RECEIPT in self.seen:
                self.seen = bytearray()
                self.hold(Held(self.marker, self.repoll, head=True, advance=self.advance,
                               buf=bytes(self.buf)))
        return None

    def poll_target(self) -> str:
        return f"{self.base}/{self.sid}/poll?ack={self.ack}"

    def repoll(self) -> bytes:
        return http_request(self.spec["host"], "GET", self.poll_target())

    def advance(self, body: bytes) -> None:
        self.records(body)

    def records(self, body: bytes) -> bytes | None:
        """The data of a poll answer's records (advancing `ack`); None if it failed."""
        out = bytearray()
        at = 0
        while at < len(body):
            if body[at:at + 1] == b"\n":  # keep-alive
                at += 1
                continue
            nl = body.find(b"\n", at)
            head = body[at:nl].split(b" ") if nl >= 0 else []
            if len(head) == 3 and head[0] == b"d":
                offset, length = int(head[1]), int(head[2])
                out += body[nl + 1:nl + 1 + length][max(0, self.ack - offset):]
                self.ack = max(self.ack, offset + length)
                at = nl + 1 + length + 1
            elif head and head[0] == b"c":
                self.failed("session closed: " + body[at + 2:nl].decode(errors="replace"))
                return None
            elif head and head[0] == b"e":
                at = nl + 1
            else:
                self.failed(f"bad answer: not a record: {body[at:at + 40]!r}")
                return None
        return bytes(out)

    def stream_data(self) -> None:
        """A stream's first bytes: its head, then records until the RECEIPT."""
        if not getattr(self, "streaming", False):
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return None
            if self.buf[9:12] != b"200":
                return self.failed(f"HTTP {self.buf[9:12].decode(errors='replace')} on "
                                   f"{self.spec['transport']}")
            del self.buf[:end + 4]
            self.streaming = True
        at = self.buf.find(RECEIPT)
        if at >= 0:
            self.hold(Held(self.marker, None, head=False,
                           buf=bytes(self.buf[at + len(RECEIPT):])))
        elif len(self.buf) > MAX_BODY:
            self.failed("no RECEIPT for the SUBSCRIBE")
        return None


class NchanClient(Client):
    """A subscriber on nginx's Nchan module: long-poll, EventSource or raw stream."""

    def start(self) -> None:
        transport = self.spec["transport"]
        extra = "Accept: text/event-stream\r\n" if transport == "sse" else ""
        poll = http_request(self.spec["host"], "GET",
                            f"/sub/{transport}/{self.spec['channel']}", extra=extra)
        assert self.transport is not None
        self.transport.write(poll)
        # Held as soon as asked, as Part 1's client is; Nchan counts them (its stub status).
        self.hold(Held(self.marker, (lambda: poll) if transport == "longpoll" else None,
                       head=True))

    def setup_data(self) -> None:
        pass  # held from the start: `Held.feed` has every byte


def part01_loadtest() -> Any:
    """Part 1's load script, imported from the repository's parts/ folder."""
    path = Path(__file__).resolve().parents[2] / "parts" / "part01" / "loadtest.py"
    if not path.is_file():
        raise FileNotFoundError(f"no Part 1 load script at {path}")
    spec = importlib.util.spec_from_file_location("part01_loadtest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in errno.errorcode:
        return f"{errno.errorcode[exc.errno]} on connect"
    if isinstance(exc, TimeoutError):
        return "connect timed out"
    return f"{type(exc).__name__} on connect"


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def set_up(spec: dict[str, Any], tracker: Tracker) -> list[tuple[asyncio.Transport, Held]]:
    """Open `count` clients, a few at a time; the transports of those held, and their state."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(spec.get("at_once", 64))
    host, port = spec["host"], spec["port"]
    deadline = time.monotonic() + spec.get("setup_timeout", 300.0)
    baseline = part01_loadtest() if spec["server"] == "baseline" else None
    factory = CometClient if spec["server"] == "comet" else NchanClient
    held: list[tuple[asyncio.Transport, Held]] = []
    clients: list[Client] = []

    async def one() -> None:
        async with gate:
            left = deadline - time.monotonic()
            if left <= 0:
                tracker.errors["not started: the setup took too long"] += 1
                return
            try:
                if baseline is not None:  # Part 1's client sends its GET /poll on connect
                    outcome = loop.create_future()
                    transport, _ = await asyncio.wait_for(loop.create_connection(
                        lambda: baseline.PollClient(outcome), host, port), min(left, 30))
                    tracker.ready += 1
                    held.append((transport, Held(baseline.MESSAGE, None, head=True)))
                    return
                done = asyncio.Event()
                _, client = await asyncio.wait_for(loop.create_connection(
                    lambda: factory(spec, tracker, done), host, port), min(left, 30))
            except (OSError, TimeoutError) as exc:
                tracker.errors[describe(exc)] += 1
                return
            clients.append(client)
            try:
                await asyncio.wait_for(done.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                client.failed("not held when the setup ended (timed out)")

    await asyncio.gather(*(one() for _ in range(spec["count"])))
    for client in clients:
        if client.held is not None and client.transport is not None:
            held.append((client.transport, client.held))
    return held


def wait_for_message(held: list[tuple[asyncio.Transport, Held]], tracker: Tracker,
                     timeout: float) -> dict[str, Any]:
    """The bare epoll loop of the release: each held socket read until its message came."""
    poller = select.epoll()
    conns: dict[int, tuple[socket.socket, Held]] = {}
    for transport, state in held:
        transport.pause_reading()  # asyncio's loop no longer reads it; ours does
        sock = socket.socket(fileno=os.dup(transport.get_extra_info("socket").fileno()))
        sock.setblocking(False)
        conns[sock.fileno()] = (sock, state)
        poller.register(sock.fileno(), select.EPOLLIN)
    stdin = sys.stdin.fileno()
    poller.register(stdin, select.EPOLLIN)
    arrived: list[float] = []
    errors = tracker.errors
    cpu0 = time.process_time()
    deadline = time.monotonic() + timeout
    monotonic = time.monotonic
    stop = False
    while conns and not stop and (left := deadline - monotonic()) > 0:
        for fd, _ in poller.poll(min(left, 1.0)):
            if fd == stdin:
                stop = True
                continue
            now = monotonic()
            sock, state = conns[fd]
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                data, why = b"", f"{type(exc).__name__} while held"
            else:
                why = "connection closed by the server while held"
            outcome = state.feed(data) if data else why
            if outcome is None:
                continue
            if outcome == REPOLL and state.repoll is not None:
                tracker.repolls += 1
                sock.send(state.repoll())
                continue
            if outcome == ARRIVED:
                arrived.append(now)
            else:
                errors[outcome] += 1
            poller.unregister(fd)  # done: kept open and idle, never read again
            del conns[fd]
    return {"arrived": arrived, "errors": dict(errors), "waiting": len(conns),
            "repolls": tracker.repolls, "cpu_s": round(time.process_time() - cpu0, 3)}


async def run(spec: dict[str, Any]) -> None:
    started = time.monotonic()
    tracker = Tracker()
    held = await set_up(spec, tracker)
    say({"ready": len(held), "errors": dict(tracker.errors),
         "setup_s": round(time.monotonic() - started, 2)})
    timeout = spec.get("wait_timeout", 300.0)
    say(wait_for_message(held, tracker, timeout))
    # Stay, connections open, until told (or the benchmark goes): closing thousands of
    # connections now would add their cost to the server's figures for the release.
    select.select([sys.stdin], [], [], timeout)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    asyncio.run(run(json.loads(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
