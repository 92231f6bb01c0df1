"""The load: raw-socket STOMP publishers and subscribers written for speed, run as processes.

They are deliberately not built on `comet_core`'s codec: the client side must cost as little
as possible and must not share our bugs. A subscriber never parses a frame in Python; per
read it finds frame ends with `rfind`, counts messages with one regex over the whole read
(each body starts with the publisher's send time), and builds ACKs from another. Every wait
has a deadline; whatever goes wrong is reported in the result, not raised.

Each body is 100 bytes: a 19-digit `time.monotonic_ns()` (one clock for every process on
the machine), a space, then filler. The publisher ends with an `END` message, so each
subscriber knows when it has everything.
"""

from __future__ import annotations

import array
import os
import re
import selectors
import socket
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

BODY_SIZE = 100
STAMP = re.compile(rb"\n\n(\d{19}) ")
END_BODY = b"END"
END = b"\n\nEND\x00"
ERROR = re.compile(rb"(?:^|\x00)[\r\n]*ERROR\r?\n([^\x00]*)")
ACK_12 = re.compile(rb"\nack:([^\n\r]*)")
MESSAGE_ID = re.compile(rb"\nmessage-id:([^\n\r]*)")
SUBSCRIPTION = re.compile(rb"\nsubscription:([^\n\r]*)")
MAX_LATENCY_SAMPLES = 4_000_000  # per process, a memory guard; past it messages are only counted
RECV_SIZE = 1 << 18


@dataclass
class Target:
    """Where to connect and what to do there (picklable: it crosses into worker processes)."""

    host: str
    port: int
    login: str
    passcode: str
    vhost: str
    versions: str
    destination: str
    ack: str = "auto"  # "auto" or "client-individual"
    sample_every: int = 1  # time one delivered message in this many (per subscription)
    stall: float = 10.0  # seconds without progress before a client gives up
    deadline: float = 120.0  # seconds: the bound on a whole run


class StompFailure(Exception):
    pass


def connect(t: Target, timeout: float) -> tuple[socket.socket, str]:
    """A logged-in socket and the negotiated version."""
    sock = socket.create_connection((t.host, t.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"CONNECT\naccept-version:%s\nhost:%s\nlogin:%s\npasscode:%s\n"
                 b"heart-beat:0,0\n\n\x00" % (t.versions.encode(), t.vhost.encode(),
                                               t.login.encode(), t.passcode.encode()))
    head = read_until(sock, re.compile(rb"\x00"), timeout)
    if not head.lstrip(b"\r\n").startswith(b"CONNECTED"):
        raise StompFailure(f"CONNECT refused: {head[:300]!r}")
    m = re.search(rb"\nversion:([\d.]+)", head)
    return sock, m.group(1).decode() if m else "1.0"


def read_until(sock: socket.socket, pattern: re.Pattern[bytes], timeout: float,
               buf: bytes = b"") -> bytes:
    """Read until `pattern` matches what has arrived; raise StompFailure on ERROR/EOF/timeout."""
    deadline = time.monotonic() + timeout
    while not pattern.search(buf):
        if m := ERROR.search(buf):
            raise StompFailure(f"broker sent ERROR: {m.group(1)[:300]!r}")
        left = deadline - time.monotonic()
        if left <= 0:
            raise StompFailure(f"no answer within {timeout:.0f} s (have {buf[-200:]!r})")
        sock.settimeout(left)
        try:
            data = sock.recv(RECV_SIZE)
        except TimeoutError:
            continue
        except OSError as exc:
            raise StompFailure(f"connection failed: {exc}") from None
        if not data:
            raise StompFailure(f"connection closed by the broker (have {buf[-200:]!r})")
        buf += data
    return buf


def receipt_seen(receipt: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"\nreceipt-id:" + re.escape(receipt) + rb"\r?\n")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


# --- publisher -------------------------------------------------------------------------------


@dataclass
class PublisherResult:
    sent: int = 0
    first_ns: int = 0
    last_ns: int = 0  # when the broker confirmed the END message (receipt)
    cpu: float = 0.0
    wall: float = 0.0
    error: str | None = None


def publish(t: Target, messages: int, duration: float, pace: int, batch: int,
            results: Any) -> None:
    """Process body: send until `messages` or `duration`, then END with a receipt.

    `pace` 0 pipelines (no receipts until END); `pace` K asks for a receipt on every K-th
    message and waits for it before sending more.
    """
    r = PublisherResult()
    try:
        _publish(t, messages, duration, pace, batch, r)
    except StompFailure as exc:
        r.error = str(exc)
    except OSError as exc:
        r.error = f"connection failed: {exc}"
    except Exception:  # report, never hang the controller
        r.error = traceback.format_exc(limit=3)
    results.put(("publisher", asdict(r)))


def _publish(t: Target, messages: int, duration: float, pace: int, batch: int,
             r: PublisherResult) -> None:
    sock, _ = connect(t, t.stall)
    sock.settimeout(t.stall)
    head = b"SEND\ndestination:%s\ncontent-length:%d\n" % (t.destination.encode(), BODY_SIZE)
    filler = b"x" * (BODY_SIZE - 20) + b"\x00"
    step = min(batch, pace) if pace else batch
    cpu0, wall0 = _cpu(), time.monotonic()
    r.first_ns = time.monotonic_ns()
    stop_ns = r.first_ns + int(duration * 1e9)
    window = 0
    while r.sent < messages and time.monotonic_ns() < stop_ns:
        n = min(step, messages - r.sent)
        if pace:
            n = min(n, pace - r.sent % pace)
        stamp = b"%019d " % time.monotonic_ns()
        plain = head + b"\n" + stamp + filler
        if pace and (r.sent + n) % pace == 0:
            window += 1
            receipt = b"w%d" % window
            data = plain * (n - 1) + head + b"receipt:" + receipt + b"\n\n" + stamp + filler
            sock.sendall(data)
            r.sent += n
            read_until(sock, receipt_seen(receipt), t.stall)
        else:
            sock.sendall(plain * n)
            r.sent += n
    sock.sendall(b"SEND\ndestination:%s\nreceipt:end\ncontent-length:3\n\nEND\x00"
                 % t.destination.encode())
    read_until(sock, receipt_seen(b"end"), t.deadline)
    r.last_ns = time.monotonic_ns()
    r.cpu, r.wall = _cpu() - cpu0, time.monotonic() - wall0
    sock.sendall(b"DISCONNECT\n\n\x00")
    sock.close()


# --- subscribers -----------------------------------------------------------------------------


@dataclass
class Stream:
    """One subscriber connection as the receive loop sees it."""

    sock: socket.socket
    version: str
    acking: bool
    sample_every: int = 1
    carry: bytes = b""
    outbound: bytes = b""
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0
    done: bool = False
    error: str | None = None

    def feed(self, chunk: bytes, now: int, latencies: array.array) -> None:
        data = self.carry + chunk if self.carry else chunk
        last = data.rfind(b"\x00")
        if last < 0:
            self.carry = data
            return
        if last + 1 < len(data):
            self.carry = data[last + 1:]
            data = data[:last + 1]
        else:
            self.carry = b""
        stamps = STAMP.findall(data)
        if stamps:
            if not self.count:
                self.first_ns = now
            if len(latencies) < MAX_LATENCY_SAMPLES:
                k = self.sample_every
                latencies.extend([now - int(s) for s in stamps[-self.count % k::k]])
            self.count += len(stamps)
            self.last_ns = now
        if self.acking:
            self.outbound += self.acks(data)
        if END in data:
            self.done = True
        elif b"ERROR" in data and (m := ERROR.search(data)):
            self.error = f"broker sent ERROR: {m.group(1)[:300]!r}"

    def acks(self, data: bytes) -> bytes:
        if self.version == "1.2" and (ids := ACK_12.findall(data)):
            return b"".join(b"ACK\nid:%s\n\n\x00" % i for i in ids)
        ids = MESSAGE_ID.findall(data)
        if self.version == "1.1":
            subs = SUBSCRIPTION.findall(data)
            return b"".join(b"ACK\nmessage-id:%s\nsubscription:%s\n\n\x00" % pair
                            for pair in zip(ids, subs, strict=False))
        return b"".join(b"ACK\nmessage-id:%s\n\n\x00" % i for i in ids)


@dataclass
class SubscriberResult:
    counts: list[int] = field(default_factory=list)
    first_ns: list[int] = field(default_factory=list)
    last_ns: list[int] = field(default_factory=list)
    done: list[bool] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    latencies: bytes = b""  # array('q') of nanoseconds, as bytes
    cpu: float = 0.0
    wall: float = 0.0
    stalled: bool = False
    timed_out: bool = False


def subscribe(t: Target, n: int, results: Any, stop: Any) -> None:
    """Process body: `n` subscriptions; report ("ready"), then receive until END on each."""
    r = SubscriberResult()
    streams: list[Stream] = []
    try:
        for i in range(n):
            sock, version = connect(t, t.stall)
            sub_id = b"sub-%d" % i
            sock.sendall(b"SUBSCRIBE\nid:%s\ndestination:%s\nack:%s\nreceipt:%s\n\n\x00"
                         % (sub_id, t.destination.encode(), t.ack.encode(), sub_id))
            read_until(sock, receipt_seen(sub_id), t.stall)
            streams.append(Stream(sock, version, t.ack != "auto", t.sample_every))
    except (StompFailure, OSError) as exc:
        results.put(("subscriber-failed", f"subscribing: {exc}"))
        return
    results.put(("ready", n))
    try:
        _receive(t, streams, r, stop)
    except Exception:
        r.errors.append(traceback.format_exc(limit=3))
    for s in streams:
        r.counts.append(s.count)
        r.first_ns.append(s.first_ns)
        r.last_ns.append(s.last_ns)
        r.done.append(s.done)
        if s.error:
            r.errors.append(s.error)
        s.sock.close()
    results.put(("subscribers", asdict(r)))


def _receive(t: Target, streams: list[Stream], r: SubscriberResult, stop: Any) -> None:
    latencies = array.array("q")
    sel = selectors.DefaultSelector()
    for s in streams:
        s.sock.setblocking(False)
        sel.register(s.sock, selectors.EVENT_READ, s)
    active = len(streams)
    cpu0, wall0 = _cpu(), time.monotonic()
    deadline = wall0 + t.deadline
    progress = wall0
    while active:
        now_s = time.monotonic()
        if now_s > deadline:
            r.timed_out = True
            break
        if now_s - progress > t.stall:
            r.stalled = True
            break
        if stop.is_set():
            break
        events = sel.select(timeout=0.5)
        now = time.monotonic_ns()
        for key, mask in events:
            s: Stream = key.data
            if mask & selectors.EVENT_READ:
                try:
                    chunk = s.sock.recv(RECV_SIZE)
                except BlockingIOError:
                    chunk = None
                except OSError as exc:
                    s.error, chunk = f"connection failed: {exc}", b""
                if chunk is not None:
                    if not chunk:
                        s.error = s.error or f"connection closed by the broker after {s.count}"
                    else:
                        s.feed(chunk, now, latencies)
                        progress = now_s
            if s.outbound and not s.error:
                try:
                    sent = s.sock.send(s.outbound)
                    s.outbound = s.outbound[sent:]
                except BlockingIOError:
                    pass
                except OSError as exc:
                    s.error = f"connection failed: {exc}"
            if s.done or s.error:
                sel.unregister(s.sock)
                active -= 1
            elif s.outbound:
                sel.modify(s.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, s)
            elif mask & selectors.EVENT_WRITE:
                sel.modify(s.sock, selectors.EVENT_READ, s)
    r.cpu, r.wall = _cpu() - cpu0, time.monotonic() - wall0
    r.latencies = latencies.tobytes()
