"""A long-poll server on Twisted's event loop: one thread for every connection at once.

GET /poll waits for the next message; POST /publish answers every waiting GET /poll with the
request's body; GET /stats says how many requests are waiting. A waiting request is an object
in a set, not a sleeping thread: that is the difference this part measures.

Run it with `python parts/part01/twisted_server.py --port 8001` (port 0 picks a free port).
"""

from __future__ import annotations

import argparse
import json

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

MAX_MESSAGE = 64 * 1024  # bytes; a larger publish is refused, and no more of it is kept


def reply(request: Request, code: int, body: bytes) -> None:
    """Answer a request that was left waiting, and end it."""
    request.setResponseCode(code)
    request.setHeader(b"content-length", b"%d" % len(body))  # one write, no chunking
    request.write(body)
    request.finish()


# start-board
class Board:
    """The requests waiting for the next message: objects in a set, no thread each."""

    def __init__(self) -> None:
        self.waiting: set[Request] = set()

    def hold(self, request: Request) -> None:
        self.waiting.add(request)
        # A client that goes away stops waiting; forget its request.
        request.notifyFinish().addErrback(lambda _: self.waiting.discard(request))

    def publish(self, message: bytes) -> int:
        """Answer every waiting request with `message`, forget them, and return how many."""
        released, self.waiting = self.waiting, set()
        for request in released:
            reply(request, 200, message)
        return len(released)
# end-board


# start-resource
class LongPoll(Resource):
    """The whole site: /poll, /publish and /stats."""

    isLeaf = True

    def __init__(self, board: Board) -> None:
        super().__init__()
        self.board = board

    def render_GET(self, request: Request) -> bytes | int:
        if request.path == b"/poll":
            self.board.hold(request)
            return NOT_DONE_YET  # no answer yet, and no thread waits for one
        if request.path == b"/stats":
            return json.dumps({"waiting": len(self.board.waiting), "threads": 1}).encode()
        request.setResponseCode(404)
        return b"no such page: try GET /poll or POST /publish\n"

    def render_POST(self, request: Request) -> bytes:
        if request.path != b"/publish":
            request.setResponseCode(404)
            return b"no such page: try GET /poll or POST /publish\n"
        message = request.content.read(MAX_MESSAGE + 1)
        if len(message) > MAX_MESSAGE:
            request.setResponseCode(413)
            return b"a message is at most %d bytes\n" % MAX_MESSAGE
        return b"released %d\n" % self.board.publish(message)
# end-resource


class BoundedRequest(Request):
    """A request that keeps at most MAX_MESSAGE + 1 bytes of its body, whatever is sent."""

    defaultContentType = b"text/plain; charset=utf-8"

    def handleContentChunk(self, data: bytes) -> None:
        room = MAX_MESSAGE + 1 - self.content.tell()
        if room > 0:
            self.content.write(data[:room])


class QuietSite(Site):
    requestFactory = BoundedRequest

    def log(self, request: Request) -> None:
        pass  # one line per request would flood the log under load


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    args = parser.parse_args(argv)
    site = QuietSite(LongPoll(Board()))
    port = reactor.listenTCP(args.port, site, backlog=1024, interface=args.host)
    address = port.getHost()
    print(f"twisted long-poll server listening on http://{address.host}:{address.port}/",
          flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
