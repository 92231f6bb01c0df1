"""`CometSite`'s one idle sweep and `CometChannel.answered`, over real connections.

A site with no timer per connection must still close idle connections, and must never
close one holding a long-poll. A comet answer leaves the connection's bookkeeping to the
next bytes it receives: the next request on a keep-alive connection must get its answer,
and a connection that ends after its response must still end.

The sites run in a subprocess on the real reactor (as `serve` does for the other HTTP
tests): a `CometSite` around a `CometResource` at ``/comet/``, one with a short timeout and
one with none. The latter runs ``site.close_idle()`` when told on its stdin.
"""

from __future__ import annotations

import itertools
import select
import socket
import subprocess
import sys

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from comet_core.transports.http.request import CometSite
from tests.helpers import ROOT
from tests.transports.http.support import CONNECT, CometClient, Records, frame, stomp_frames

#: The short idle timeout of the first site (seconds).
TIMEOUT = 0.3
#: How long a test waits for the server to do something (generous: never a measure).
WAIT = 5.0

SERVER = r"""
import sys
from twisted.internet import reactor, stdio
from twisted.protocols.basic import LineReceiver
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from comet_core.hub import Hub
from comet_core.transports.http.request import CometSite
from comet_core.transports.http.resource import CometResource

timeout = None if sys.argv[1] == "none" else float(sys.argv[1])
root = Resource()
root.putChild(b"comet", CometResource(Hub(), reactor=reactor))
site = CometSite(root, timeout=timeout)

class Control(LineReceiver):
    delimiter = b"\n"
    def lineReceived(self, line):
        if line.strip() == b"sweep":
            self.sendLine(b"closed %d" % site.close_idle())

stdio.StandardIO(Control())
port = reactor.listenTCP(0, site, interface="127.0.0.1")
print("port", port.getHost().port, flush=True)
reactor.run()
"""


class Server:
    """The site in a subprocess: its port, and `sweep` to run its close_idle()."""

    def __init__(self, timeout: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-c", SERVER, timeout], cwd=ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self._line()
        assert line.startswith(b"port "), line
        self.port = int(line.split()[1])

    def _line(self) -> bytes:
        ready, _, _ = select.select([self.popen.stdout], [], [], 30)
        line = self.popen.stdout.readline() if ready else b""
        if not line:
            self.popen.kill()
            raise AssertionError(f"server said nothing; stderr: {self.popen.stderr.read()!r}")
        return line

    def sweep(self) -> int:
        self.popen.stdin.write(b"sweep\n")
        self.popen.stdin.flush()
        line = self._line()
        assert line.startswith(b"closed "), line
        return int(line.split()[1])

    def stop(self) -> None:
        self.popen.kill()
        self.popen.wait()
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            pipe.close()


@pytest.fixture(scope="module")
def short():
    """A site whose idle connections are closed after TIMEOUT."""
    server = Server(str(TIMEOUT))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def endless():
    """A site with timeout=None: nothing is ever closed for being idle."""
    server = Server("none")
    yield server
    server.stop()


class Connection:
    """One raw HTTP connection: requests written by hand, responses read by Content-Length."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buffer = b""

    def send(self, method: str, path: str, body: bytes = b"", version: str = "HTTP/1.1",
             headers: str = "") -> None:
        self.sock.sendall(self.encode(method, path, body, version, headers))

    @staticmethod
    def encode(method: str, path: str, body: bytes = b"", version: str = "HTTP/1.1",
               headers: str = "") -> bytes:
        return (f"{method} {path} {version}\r\nHost: 127.0.0.1\r\n{headers}"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"connection closed; got {self.buffer!r}"
        self.buffer += chunk

    def response(self) -> tuple[int, dict[bytes, bytes], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.split(b"\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers[b"content-length"])
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def still_open(self) -> bool:
        """Open, and nothing sent to us (checked without waiting)."""
        ready, _, _ = select.select([self.sock], [], [], 0)
        if not ready:
            return True
        assert self.sock.recv(65536, socket.MSG_PEEK) == b"", "unexpected bytes"
        return False

    def ends_now(self) -> bool:
        """Closed with nothing more to read (waiting for a response or the end)."""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return True
            self.buffer += chunk
        return False

    def ends(self) -> bool:
        """Wait for the server to close the connection (True), with nothing more sent."""
        try:
            while chunk := self.sock.recv(65536):
                self.buffer += chunk
        except TimeoutError:
            return False
        except ConnectionResetError:
            pass
        return self.buffer == b""

    def close(self) -> None:
        self.sock.close()


_topics = itertools.count()


def subscriber(port: int) -> tuple[CometClient, str]:
    """A comet session subscribed to a fresh topic, everything received acknowledged."""
    topic = f"/topic/ch-{next(_topics)}"
    client = CometClient(port)
    client.upload(CONNECT)
    client.frames_until(lambda f: any(x.startswith(b"CONNECTED") for x in f))
    client.upload(frame("SUBSCRIBE", id="0", destination=topic, receipt="sub"))
    client.frames_until(lambda f: any(x.startswith(b"RECEIPT") for x in f))
    return client, topic


def publisher(port: int) -> CometClient:
    client = CometClient(port)
    client.upload(CONNECT)
    return client


def held_answer(conn: Connection, client: CometClient, sender: CometClient, topic: str,
                body: str) -> bytes:
    """Hold a long-poll on `conn`, publish `body` from another session, read the answer."""
    conn.send("GET", f"/comet/{client.id}/poll?ack={client.held}&hold=30")
    sender.upload(frame("SEND", body, destination=topic))
    status, headers, data = conn.response()
    assert status == 200, (status, data)
    assert b"connection" not in headers  # the connection stays open
    before = len(client.received)
    client.apply(Records().feed(data))
    return bytes(client.received[before:])


# --- the idle sweep ---------------------------------------------------------------------

def test_a_connection_that_sends_nothing_is_closed(short):
    conn = Connection(short.port)
    assert conn.ends()


def test_a_held_long_poll_is_not_closed_and_gets_its_answer(short):
    client, topic = subscriber(short.port)
    sender = publisher(short.port)
    conn = Connection(short.port)
    conn.send("GET", f"/comet/{client.id}/poll?ack={client.held}&hold=30")
    select.select([conn.sock], [], [], 4 * TIMEOUT)  # a few sweeps pass (or it closes)
    assert conn.still_open()
    sender.upload(frame("SEND", "worth the wait", destination=topic))
    status, _, data = conn.response()
    assert status == 200
    client.apply(Records().feed(data))
    (message,) = stomp_frames(bytes(client.received))[2:]  # after CONNECTED and RECEIPT
    assert message.startswith(b"MESSAGE") and message.endswith(b"worth the wait")


def test_the_next_request_on_a_keep_alive_connection_is_answered(short):
    client, topic = subscriber(short.port)
    sender = publisher(short.port)
    conn = Connection(short.port)
    for i in range(5):  # each answer's bookkeeping runs when the next request comes
        got = held_answer(conn, client, sender, topic, f"message {i}")
        (message,) = stomp_frames(got)
        assert message.endswith(b"message %d" % i)
    # A request answered at once, and one of another kind, on the same connection.
    conn.send("GET", f"/comet/{client.id}/poll?ack={client.held}&hold=0")
    status, headers, body = conn.response()
    assert (status, body) == (200, b"") and b"connection" not in headers
    conn.send("POST", f"/comet/{client.id}/send?offset={client.sent}", b"\n")
    status, _, body = conn.response()
    assert (status, int(body)) == (200, client.sent + 1)
    conn.close()


def test_pipelined_requests_without_a_body_are_each_answered(short):
    """The next requests' bytes already here: nothing more will come to run the
    bookkeeping, so it must not wait for more."""
    conn = Connection(short.port)
    conn.sock.sendall(Connection.encode("POST", "/comet/") * 3)
    answers = []
    while len(answers) < 3 and not conn.ends_now():
        answers.append(conn.response())
    assert [status for status, _, _ in answers] == [201] * 3, answers
    assert len({body for _, _, body in answers}) == 3
    conn.close()


def test_pipelined_requests_with_a_body_are_each_answered(short):
    client = publisher(short.port)
    conn = Connection(short.port)
    conn.sock.sendall(b"".join(
        Connection.encode("POST", f"/comet/{client.id}/send?offset={client.sent + i}", b"\n")
        for i in range(3)))
    for i in range(3):
        status, _, body = conn.response()
        assert (status, int(body)) == (200, client.sent + i + 1)
    conn.close()


def test_a_keep_alive_connection_idle_after_its_answer_is_closed(short):
    client, topic = subscriber(short.port)
    sender = publisher(short.port)
    conn = Connection(short.port)
    held_answer(conn, client, sender, topic, "and then nothing")
    assert conn.ends()


# --- connections that end after their response --------------------------------------------

@pytest.mark.parametrize("version, headers", [("HTTP/1.0", ""),
                                              ("HTTP/1.1", "Connection: close\r\n")])
def test_a_connection_that_asks_to_end_ends_after_its_answer(endless, version, headers):
    # On a site that never closes idle connections: only the request's own end can.
    conn = Connection(endless.port)
    conn.send("POST", "/comet/", version=version, headers=headers)
    status, got, _ = conn.response()
    assert status == 201 and got[b"connection"].lower() == b"close"
    assert conn.ends()


@pytest.mark.parametrize("version, headers", [("HTTP/1.0", ""),
                                              ("HTTP/1.1", "Connection: close\r\n")])
def test_a_held_poll_that_asks_to_end_ends_after_its_answer(endless, version, headers):
    client, topic = subscriber(endless.port)
    sender = publisher(endless.port)
    conn = Connection(endless.port)
    conn.send("GET", f"/comet/{client.id}/poll?ack={client.held}&hold=30", version=version,
              headers=headers)
    sender.upload(frame("SEND", "last words", destination=topic))
    status, got, data = conn.response()
    assert status == 200 and got[b"connection"].lower() == b"close"
    client.apply(Records().feed(data))
    assert stomp_frames(bytes(client.received))[-1].endswith(b"last words")
    assert conn.ends()


# --- timeout=None ---------------------------------------------------------------------------

def test_without_a_timeout_close_idle_closes_nothing(endless):
    silent = [Connection(endless.port) for _ in range(3)]
    client, topic = subscriber(endless.port)
    sender = publisher(endless.port)
    answered = Connection(endless.port)
    held_answer(answered, client, sender, topic, "then idle")
    select.select([], [], [], 2 * TIMEOUT)
    assert endless.sweep() == 0
    for conn in [*silent, answered]:
        assert conn.still_open()
        conn.send("POST", "/comet/")
        assert conn.response()[0] == 201
        conn.close()


# --- close_idle(), unit-level ---------------------------------------------------------------

def connect(site: CometSite) -> tuple[object, StringTransport]:
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


class Hold(Resource):
    """Answers nothing: its requests stay under way."""

    isLeaf = True

    def render(self, request):
        return NOT_DONE_YET


def test_close_idle_closes_those_idle_past_the_timeout_and_counts_them():
    reactor = MemoryReactorClock()
    site = CometSite(Hold(), timeout=10, reactor=reactor)
    idle = [connect(site) for _ in range(3)]
    (trickling, trickling_transport), (held, held_transport) = connect(site), connect(site)
    held.dataReceived(b"GET /held HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    reactor.advance(5)
    trickling.dataReceived(b"GET / HTTP/1.1\r\n")  # bytes came: idle since now
    reactor.advance(6)
    assert site.close_idle() == 3
    assert all(t.disconnecting for _, t in idle)
    assert not trickling_transport.disconnecting
    assert site.close_idle() == 0  # once is enough
    reactor.advance(5)
    assert site.close_idle() == 1 and trickling_transport.disconnecting
    reactor.advance(1000)
    assert site.close_idle() == 0 and not held_transport.disconnecting  # under way


def test_close_idle_without_a_timeout_closes_nothing():
    reactor = MemoryReactorClock()
    site = CometSite(Resource(), timeout=None, header_timeout=None, reactor=reactor)
    transports = [connect(site)[1] for _ in range(3)]
    reactor.advance(1e6)
    assert site.close_idle() == 0
    assert not any(t.disconnecting for t in transports)
