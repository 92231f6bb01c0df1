"""Control frames and replies a client never reads cannot grow the server's memory.

A WebSocket peer may send pings at any moment, and each asks for a pong; a comet upload
asks for an acknowledgement. A client that sends them and never reads what comes back
must not make the server keep those answers without bound, on either WebSocket endpoint
(``/stomp`` and ``/comet/ID/ws``): the server stops reading the socket while its unsent
output is over the transport's bound, answers the pings of one read with one pong, and
closes a socket that sends more control frames than its rate allows with code 1008.

The site `serve` builds runs in a subprocess (`SERVER`), with a view inside: for each
upgraded connection it reports, once the connection is gone, the most bytes that waited
in the transport's buffer, and then whether anything of the connection (the wire, the
protocol it carried, the TCP transport) was still alive after a garbage collection.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from wsproto.events import Ping

from tests.helpers import ROOT
from tests.transports.http.support import make_site, request
from tests.transports.ws.support import Closed, WSClient

SERVER = r"""
import gc, json, socket, sys, weakref
from pathlib import Path
from twisted.internet import reactor, tcp
from comet_core.hub import Hub
from comet_core.transports.http.resource import CometResource
from comet_core.transports.websocket import BoundedWire, StompWebSocketResource
from comet_core.web import build_site

hub = Hub()
comet = CometResource(hub, reactor=reactor)
stomp = StompWebSocketResource(hub, reactor=reactor)
site = build_site(Path(sys.argv[1]), {b"comet": comet, b"stomp": stomp})
try:
    from comet_core.transports.ws_control import WebSocketLimits
except ImportError:  # a server without control frame bounds: nothing to set
    WebSocketLimits = None
if sys.argv[2] != "default" and WebSocketLimits is not None:
    site.websocket_limits = WebSocketLimits(control_rate=float(sys.argv[2]))


def say(**line):
    print(json.dumps(line), flush=True)


def unsent(transport):
    return transport._tempDataLen + len(transport.dataBuffer) - transport.offset


def track(write):
    def tracked(self, data):
        write(self, data)
        self.peak_unsent = max(getattr(self, "peak_unsent", 0), unsent(self))
    return tracked


tcp.Server.write = track(tcp.Server.write)
pause = tcp.Server.pauseProducing


def paused(self):
    say(event="paused", port=self.getPeer().port)
    pause(self)


tcp.Server.pauseProducing = paused
made, lost = BoundedWire.makeConnection, BoundedWire.connectionLost


def make_connection(self, transport):
    made(self, transport)
    # Small kernel buffers, so that what the client does not read waits here at once.
    transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    self.refs = {"wire": weakref.ref(self), "transport": weakref.ref(transport)}
    if hasattr(type(self._wsp), "__weakref__"):  # not a protocol with __slots__
        self.refs["protocol"] = weakref.ref(self._wsp)


def connection_lost(self, reason):
    transport, refs = self.transport, self.refs
    lost(self, reason)
    port = transport.getPeer().port
    say(event="lost", port=port, peak=getattr(transport, "peak_unsent", 0))
    del self, transport

    def check():
        held = [name for name, ref in refs.items() if ref()]  # by a reference cycle
        gc.collect()
        say(event="gone", port=port, held=held,
            alive=[name for name, ref in refs.items() if ref()])
    reactor.callLater(0, check)


BoundedWire.makeConnection = make_connection
BoundedWire.connectionLost = connection_lost
port = reactor.listenTCP(0, site, interface="127.0.0.1")
say(event="listening", port=port.getHost().port)
reactor.run()
"""

#: The transport asks its producer to pause past 64 KiB; what one read (at most 64 KiB)
#: of pings or uploads adds before reading stops comes on top. Twice that, with room.
BOUND = 256 << 10
#: Many times what the kernel's buffers hold here: the server must choose.
FLOOD = 4 << 20
WAIT = 20.0  # seconds: a bound on any one wait, never a measure
#: Many times the default control frame rate, in one write.
PINGS = 400


class Server:
    """The subprocess and the events it reported (kept: several waits may look)."""

    def __init__(self, site: str, rate: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, site, rate], cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.events: list[dict] = []
        self.output: list[bytes] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()
        self.port = self.event("listening")["port"]

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.changed:
                self.output.append(line)
                if line.startswith(b"{"):
                    self.events.append(json.loads(line))
                self.changed.notify_all()
        with self.changed:
            self.events.append({"event": "exit"})
            self.changed.notify_all()

    def find(self, kind: str, port: int | None = None) -> dict | None:
        for event in self.events:
            if event["event"] == "exit":
                raise AssertionError(f"server ended: {b''.join(self.output)!r}")
            if event["event"] == kind and port in (None, event.get("port")):
                return event
        return None

    def wait(self, predicate) -> None:
        """Until `predicate()` (called under the lock, after each event); WAIT at most."""
        with self.changed:
            if not self.changed.wait_for(predicate, timeout=WAIT):
                raise AssertionError(f"waited in vain: {b''.join(self.output)!r}")

    def event(self, kind: str, port: int | None = None) -> dict:
        self.wait(lambda: self.find(kind, port) is not None)
        found = self.find(kind, port)
        assert found is not None
        return found

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> str:
    return str(make_site(tmp_path_factory.mktemp("site")))


@pytest.fixture
def unlimited(site) -> Iterator[Server]:
    """A server whose control frame rate is off: only back-pressure bounds the output."""
    server = Server(site, "1e9")
    yield server
    server.stop()


@pytest.fixture
def limited(site) -> Iterator[Server]:
    """A server with the default bounds."""
    server = Server(site, "default")
    yield server
    server.stop()


def upgrade(port: int, target: str) -> socket.socket:
    """A raw socket upgraded to a WebSocket at `target`, reading as little as it can."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(WAIT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # not a byte past the response: the rest stays unread
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (masked with a zero key, so the payload goes as it is)."""
    assert len(payload) <= 125
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + b"\0\0\0\0" + payload


def target(server: Server, where: str) -> str:
    if where == "stomp":
        return "/stomp"
    status, _, body = request(server.port, "POST", "/comet/")
    assert status == 201, body
    return f"/comet/{body.decode()}/ws?ack=0"


def flood(server: Server, sock: socket.socket, unit: bytes) -> None:
    """Send `unit` over and over, reading nothing, until FLOOD bytes went or the server
    stopped reading this socket; then reset the connection (the unread data makes the
    close a reset, as a client that vanishes does)."""
    port = sock.getsockname()[1]
    chunk = unit * ((64 << 10) // len(unit))

    def send() -> None:
        try:
            for _ in range(FLOOD // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass
        with server.changed:
            sent.set()
            server.changed.notify_all()

    sent = threading.Event()
    threading.Thread(target=send, daemon=True).start()
    server.wait(lambda: sent.is_set() or server.find("paused", port) is not None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.mark.parametrize("where", ["stomp", "comet"])
def test_pings_never_read_keep_the_output_bounded(unlimited, where):
    sock = upgrade(unlimited.port, target(unlimited, where))
    port = sock.getsockname()[1]
    flood(unlimited, sock, masked(0x9, b"p" * 125))
    lost = unlimited.event("lost", port=port)
    assert lost["peak"] <= BOUND, f"{lost['peak']} bytes waited for a client that never reads"
    # Nothing of the connection outlives it.
    gone = unlimited.event("gone", port=port)
    assert gone["alive"] == [] and gone["held"] == [], gone


def test_uploads_whose_answers_are_never_read_stop_being_read(unlimited):
    """Each comet upload is answered (``a N``): the answers of a client that never reads
    stop the reading of its uploads, not pile up."""
    sock = upgrade(unlimited.port, target(unlimited, "comet"))
    port = sock.getsockname()[1]
    flood(unlimited, sock, masked(0x2, b"d 0\n"))
    lost = unlimited.event("lost", port=port)
    assert lost["peak"] <= BOUND, f"{lost['peak']} bytes waited for a client that never reads"
    gone = unlimited.event("gone", port=port)
    assert gone["alive"] == [] and gone["held"] == [], gone


@pytest.mark.parametrize("where", ["stomp", "comet"])
def test_a_ping_flood_is_closed_with_1008(limited, where):
    path = target(limited, where)
    client = WSClient(limited.port, path)
    client.sock.settimeout(5)
    pings = PINGS
    client.sock.sendall(b"".join(client.ws.send(Ping(b"%d" % i)) for i in range(pings)))
    with pytest.raises(Closed) as closed:
        while True:
            client.receive()
    assert closed.value.code == 1008
    assert "per second" in closed.value.reason
    client.drop()


def test_a_peer_at_the_rate_keeps_its_socket(limited):
    """Pings at the rate's pace (here: a burst of the rate, as the first ones) are
    answered, and the socket goes on carrying messages."""
    client = WSClient(limited.port, "/stomp", subprotocols=["v12.stomp"])
    from comet_core.transports.ws_control import WebSocketLimits

    burst = int(WebSocketLimits().control_rate)
    client.sock.sendall(b"".join(client.ws.send(Ping(b"%d" % i)) for i in range(burst)))
    client.send("CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\0")
    assert str(client.receive()).startswith("CONNECTED")
    client.close()


def test_the_budget_refills_at_its_rate():
    from comet_core.transports.ws_control import ControlBudget

    budget = ControlBudget(rate=4, now=100.0)
    assert [budget.spend(100.0) for _ in range(5)] == [True] * 4 + [False]
    assert budget.spend(100.25) and not budget.spend(100.25)  # a quarter second: one more
    assert [budget.spend(110.0) for _ in range(5)] == [True] * 4 + [False]  # full, no more


def test_limits_must_be_positive():
    from comet_core.transports.ws_control import WebSocketLimits

    for bad in ({"control_rate": 0}, {"close_timeout": -1}):
        with pytest.raises(ValueError):
            WebSocketLimits(**bad)
