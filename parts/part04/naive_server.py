"""A long-poll server from scratch, with no numbering and no acknowledgement: the naive kind.

GET /poll?hold=S is held until the next message is published, or for S seconds (30 at
most), after which it is answered with an empty body and the client simply asks again.
POST /publish answers every held poll with the request's body and replies with how many it
released. GET /stats says how many polls are held. It loses messages: run
`python parts/part04/lost_message.py` to watch it happen.

Run it with `python parts/part04/naive_server.py --port 8004` (port 0 picks a free port).
"""

from __future__ import annotations

import argparse
import json

from twisted.internet import reactor
from twisted.internet.interfaces import IDelayedCall
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

MAX_MESSAGE = 64 * 1024  # bytes in one published message
MAX_HOLD = 30.0  # seconds a poll is held at most: under the usual proxy read timeout of 60 s


def answer(request: Request, body: bytes) -> None:
    """Answer a held request in one write, and end it."""
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"content-length", b"%d" % len(body))
    request.write(body)
    request.finish()


# start-held
class Held:
    """The polls being held: each waits for the next message, or for its hold time to pass."""

    def __init__(self) -> None:
        self.polls: dict[Request, IDelayedCall] = {}

    def hold(self, request: Request, seconds: float) -> None:
        timer = reactor.callLater(seconds, self.time_up, request)
        self.polls[request] = timer
        request.notifyFinish().addErrback(lambda _: self.forget(request))

    def time_up(self, request: Request) -> None:
        """Nothing happened for the hold time: answer empty; the client asks again."""
        del self.polls[request]
        answer(request, b"")

    def forget(self, request: Request) -> None:
        """The client went away: drop its poll and its timer."""
        timer = self.polls.pop(request, None)
        if timer is not None and timer.active():
            timer.cancel()

    def publish(self, message: bytes) -> int:
        """Answer every held poll with `message`. A client not polling right now misses it:
        the message is kept nowhere."""
        released, self.polls = self.polls, {}
        for request, timer in released.items():
            timer.cancel()
            answer(request, message)
        return len(released)
# end-held


class NaiveLongPoll(Resource):
    isLeaf = True

    def __init__(self, held: Held) -> None:
        super().__init__()
        self.held = held

    def render_GET(self, request: Request) -> bytes | int:
        if request.path == b"/poll":
            try:
                hold = float(request.args.get(b"hold", [b"30"])[0])
            except ValueError:
                request.setResponseCode(400)
                return b"hold must be a number of seconds\n"
            self.held.hold(request, max(0.0, min(hold, MAX_HOLD)))
            return NOT_DONE_YET
        if request.path == b"/stats":
            return json.dumps({"held": len(self.held.polls)}).encode()
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
        return b"released %d\n" % self.held.publish(message)


class BoundedRequest(Request):
    """Keeps at most MAX_MESSAGE + 1 bytes of a body, however much is sent."""

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
        room = MAX_MESSAGE + 1 - self.content.tell()
        if room > 0:
            self.content.write(data[:room])


class QuietSite(Site):
    requestFactory = BoundedRequest

    def log(self, request: Request) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8004, help="0 picks a free port")
    args = parser.parse_args(argv)
    port = reactor.listenTCP(args.port, QuietSite(NaiveLongPoll(Held())), interface=args.host)
    address = port.getHost()
    print(f"naive long-poll server listening on http://{address.host}:{address.port}/",
          flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
