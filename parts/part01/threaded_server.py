"""A long-poll server with one thread per connection, from the standard library alone.

GET /poll waits for the next message; POST /publish answers every waiting GET /poll with the
request's body; GET /stats says how many requests are waiting. Each waiting request is a
thread asleep in `Board.wait`: that is the cost this part measures.

Run it with `python parts/part01/threaded_server.py --port 8001` (port 0 picks a free port).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_MESSAGE = 64 * 1024  # bytes; a larger publish is refused, so no body is read unbounded


# start-board
class Slot:
    """Where a publish leaves the message for one sleeping thread, and wakes it."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.message = b""


class Board:
    """The requests waiting for the next message; each one is a thread blocked in `wait`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: list[Slot] = []

    def wait(self) -> bytes:
        slot = Slot()
        with self.lock:
            self.waiting.append(slot)
        slot.ready.wait()  # this thread, its stack and its socket sleep here until a publish
        return slot.message

    def publish(self, message: bytes) -> int:
        with self.lock:
            released, self.waiting = self.waiting, []
        for slot in released:
            slot.message = message
            slot.ready.set()
        return len(released)
# end-board


# start-handler
class Handler(BaseHTTPRequestHandler):
    """One instance per connection, run in that connection's own thread."""

    # The stdlib writes the headers and the body in two send() calls; without this, the
    # body can wait for the client's delayed ACK (Nagle's algorithm).
    disable_nagle_algorithm = True
    server: Server

    def do_GET(self) -> None:
        if self.path == "/poll":
            self.reply(200, self.server.board.wait())
        elif self.path == "/stats":
            stats = {"waiting": len(self.server.board.waiting),
                     "threads": threading.active_count()}
            self.reply(200, json.dumps(stats).encode())
        else:
            self.reply(404, b"no such page: try GET /poll or POST /publish\n")

    def do_POST(self) -> None:
        if self.path != "/publish":
            return self.reply(404, b"no such page: try GET /poll or POST /publish\n")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return self.reply(400, b"Content-Length must be a number\n")
        if not 0 <= length <= MAX_MESSAGE:
            return self.reply(413, b"a message is at most %d bytes\n" % MAX_MESSAGE)
        released = self.server.board.publish(self.rfile.read(length))
        self.reply(200, b"released %d\n" % released)

    def reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would flood the terminal under load
# end-handler


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer starts a new thread for every accepted connection."""

    request_queue_size = 1024  # the listen backlog; the default of 5 drops bursts of connects

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)
        self.board = Board()

    def handle_error(self, request: object, client_address: object) -> None:
        # Called when a connection cannot be served, e.g. "can't start new thread":
        # one line each, which the load script counts.
        error = sys.exc_info()[1]
        print(f"error serving {client_address}: {type(error).__name__}: {error}",
              file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    args = parser.parse_args(argv)
    server = Server((args.host, args.port))
    host, port = server.server_address[:2]
    print(f"threaded long-poll server listening on http://{host}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
