"""The browser tests' machinery: a proxy the test controls, and a STOMP client over TCP.

- `Proxy`: a TCP proxy in the test process between the browser and `serve`. The test can
  make it drop every connection at once (the network, or the server, fails), refuse
  WebSocket upgrades (a proxy that does not know them), hold back the responses of
  streams until they end (a proxy that buffers), or stall: keep every connection open but
  pass nothing on, either way (a server, or a network, that hangs without closing).
- `StompTCP`: the other side of a conversation: a plain STOMP client over TCP, as a
  backend would be, built on comet_core's own frame codec.
"""

from __future__ import annotations

import queue
import re
import select
import socket
import threading
from collections.abc import Callable

from comet_core.stomp.frames import Frame, FrameParser

#: The request line of an XHR stream or an SSE request.
STREAM_REQUEST = re.compile(rb"GET /comet/[^/ ]+/(?:stream|sse)\?")
WEBSOCKET_UPGRADE = re.compile(rb"\r\nupgrade:\s*websocket", re.IGNORECASE)


class Proxy:
    """Forward 127.0.0.1:`port` to 127.0.0.1:`target`, one thread per connection."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.block_websocket = False
        self.buffer_streams = False
        self.refuse = False  # close every new connection at once (the network is down)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self.dropped = 0  # connections dropped by drop_all, in all
        self._flowing = threading.Event()  # cleared by stall(): nothing is forwarded
        self._flowing.set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_all(self) -> int:
        """Close every connection now open (new ones are accepted as usual); how many."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for sock in pair:
                _shut(sock)
        self.dropped += len(pairs)
        return len(pairs)

    def stall(self) -> None:
        """Stop forwarding, both ways, on every connection (open now or later) without
        closing any: what is sent waits in the sockets' buffers until `resume()`."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self._flowing.set()  # let the stalled connection threads see they are done
        self.drop_all()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse:
                _shut(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            client.close()
            return
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = (client, server)
        with self._lock:
            self._pairs.add(pair)
        held = b""  # server bytes a buffering proxy keeps until the response ends
        buffering = False
        try:
            while True:
                if not self._flowing.wait(1.0):  # stalled: read nothing, forward nothing
                    if pair not in self._pairs:
                        return
                    continue
                readable, _, _ = select.select([client, server], [], [], 1.0)
                if pair not in self._pairs:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        if held:
                            client.sendall(held)
                        return
                    if sock is client:
                        if self.block_websocket and WEBSOCKET_UPGRADE.search(data):
                            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0"
                                           b"\r\nConnection: close\r\n\r\n")
                            return
                        if self.buffer_streams and STREAM_REQUEST.search(data):
                            buffering = True
                        server.sendall(data)
                    elif buffering:
                        held += data
                    else:
                        client.sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket drop_all closed
            return
        finally:
            with self._lock:
                self._pairs.discard(pair)
            _shut(client)
            _shut(server)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class StompTCP:
    """A STOMP 1.2 client over TCP for the Python side of a test."""

    def __init__(self, port: int, login: str | None = None, passcode: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.parser = FrameParser(version="1.2")
        self.frames: queue.Queue[Frame] = queue.Queue()
        self._ids = 0
        threading.Thread(target=self._read, daemon=True).start()
        headers = {"accept-version": "1.2", "host": "localhost"}
        if login is not None:
            headers |= {"login": login, "passcode": passcode or ""}
        self.write("CONNECT", **headers)
        assert self.next().command == "CONNECTED"

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            for frame in self.parser.feed(data):
                self.frames.put(frame)

    def write(self, command: str, body: str | bytes = b"", **headers: str) -> None:
        if isinstance(body, str):
            body = body.encode()
        self.sock.sendall(Frame(command, list(headers.items()), body).encode("1.2"))

    def subscribe(self, destination: str, ack: str = "auto") -> str:
        self._ids += 1
        sub = f"py-{self._ids}"
        self.write("SUBSCRIBE", id=sub, destination=destination, ack=ack)
        self.receipt()
        return sub

    def send(self, destination: str, body: str, **headers: str) -> None:
        self.write("SEND", body, destination=destination, **headers)

    def receipt(self) -> None:
        """Wait until the server handled everything written so far."""
        self._ids += 1
        self.write("SEND", destination="/topic/py-receipts", receipt=f"r{self._ids}")
        self.next(lambda f: f.command == "RECEIPT" and f.get("receipt-id") == f"r{self._ids}")

    def next(self, wanted: Callable[[Frame], bool] = lambda f: True,
             timeout: float = 15) -> Frame:
        """The next frame that is `wanted` (others are skipped)."""
        while True:
            try:
                frame = self.frames.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("no STOMP frame came in time") from None
            if wanted(frame):
                return frame

    def messages(self, count: int, timeout: float = 15) -> list[str]:
        """The bodies of the next `count` MESSAGE frames."""
        return [self.next(lambda f: f.command == "MESSAGE", timeout).body.decode()
                for _ in range(count)]

    def close(self) -> None:
        try:
            self.write("DISCONNECT")
        except OSError:
            pass
        self.sock.close()
