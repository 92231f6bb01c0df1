"""Watch a naive long-poll server lose two messages, the two ways any such server does.

Starts `naive_server.py` on a free port (or uses `--url`), then plays one client against
it, step by step, each step waiting for its effect (the server's /stats), so that the story
goes the same way on every run:

1. a poll is held, and answered when a message is published;
2. a poll nobody publishes to is answered empty after its hold time, and the client asks again;
3. a message published while the client is between two polls is lost;
4. a message whose answer is lost on its way (the connection drops) is lost too, although
   the server counted it as delivered.

Run it with `python parts/part04/lost_message.py`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent


class Client:
    """One long-polling client, with raw sockets so that each step is under our control."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.received: list[str] = []

    def request(self, method: str, path: str, body: bytes = b"") -> str:
        """A short request, answered at once (publish, stats)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, body)
            return connection.getresponse().read().decode()
        finally:
            connection.close()

    def held(self) -> int:
        return json.loads(self.request("GET", "/stats"))["held"]

    def start_poll(self, hold: float = 30) -> socket.socket:
        """Send GET /poll and return without reading; wait until the server holds it."""
        before = self.held()
        sock = socket.create_connection((self.host, self.port), timeout=30)
        sock.sendall(f"GET /poll?hold={hold:g} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        deadline = time.monotonic() + 30
        while self.held() <= before:  # the server's own count: no guessing with a sleep
            if time.monotonic() > deadline:
                raise SystemExit("the server never held the poll")
        return sock

    def finish_poll(self, sock: socket.socket) -> str:
        """Read the poll's answer, and keep what it carried."""
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read().decode()
        sock.close()
        if body:
            self.received.append(body)
        return body

    def publish(self, message: str) -> str:
        return self.request("POST", "/publish", message.encode()).strip()


# start-story
def story(client: Client) -> None:
    print("1. A poll is held until there is news.")
    poll = client.start_poll()
    print(f"   publish 'one': {client.publish('one')}")
    print(f"   the poll is answered: {client.finish_poll(poll)!r}")

    print("2. Nothing happens for the hold time: the answer is empty, and the client asks again.")
    started = time.monotonic()
    poll = client.start_poll(hold=1)
    answer = client.finish_poll(poll)
    print(f"   answered {answer!r} after about {round(time.monotonic() - started)} s")

    print("3. A message published between two polls.")
    poll = client.start_poll()
    print(f"   publish 'two': {client.publish('two')}")
    client.finish_poll(poll)
    print(f"   publish 'three' before the client polls again: {client.publish('three')}")
    poll = client.start_poll()
    print(f"   publish 'four': {client.publish('four')}")
    print(f"   the next poll is answered: {client.finish_poll(poll)!r}")

    print("4. An answer lost on its way (the connection drops before the client reads it).")
    poll = client.start_poll()
    print(f"   publish 'five': {client.publish('five')}")
    poll.close()  # the answer was written, and is thrown away with the connection
    poll = client.start_poll()
    print(f"   publish 'six': {client.publish('six')}")
    print(f"   the next poll is answered: {client.finish_poll(poll)!r}")
# end-story


@contextmanager
def naive_server() -> Iterator[str]:
    """Run naive_server.py on a free port; yield its URL."""
    process = subprocess.Popen(
        [sys.executable, "-u", str(HERE / "naive_server.py"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://[\d.]+:\d+/", line)
        if found is None:
            raise SystemExit(f"the server did not start: {line}{process.stdout.read()}")
        yield found.group(0)
    finally:
        process.terminate()
        process.wait(timeout=15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running naive_server.py (default: start one)")
    args = parser.parse_args(argv)
    with naive_server() if args.url is None else _given(args.url) as url:
        parts = urlsplit(url)
        client = Client(parts.hostname or "127.0.0.1", parts.port or 80)
        story(client)
    sent = ["one", "two", "three", "four", "five", "six"]
    lost = [m for m in sent if m not in client.received]
    print(f"published: {', '.join(sent)}")
    print(f"received:  {', '.join(client.received)}")
    print(f"lost:      {', '.join(lost) or 'nothing'}")
    return 0


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    sys.exit(main())
