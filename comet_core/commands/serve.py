"""Serve the tutorial site and its live endpoints over HTTP, with the STOMP broker beside it.

The HTTP server and the broker share one hub, so a backend speaking STOMP over TCP and the
browser-side transports of later parts meet the same topics and queues.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from comet_core.comet import CometLimits
from comet_core.web import build_site


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (0 picks a free one)")
    parser.add_argument("--docs", type=Path, default=Path("_build/html"),
                        help="the built site to serve (make docs builds it)")
    parser.add_argument("--stomp-port", type=int, default=61613,
                        help="STOMP broker port (default 61613; 0 picks a free one)")
    parser.add_argument("--no-stomp", action="store_true", help="do not start the broker")
    parser.add_argument("--users", type=Path, metavar="FILE",
                        help="require a STOMP login (over TCP and over /comet/ alike): a file "
                             "of user:password lines")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="let pages from ORIGIN (scheme://host[:port]) use /comet/ and /stomp "
                             "(repeatable; default: the server's own origin only)")
    comet = CometLimits()
    parser.add_argument("--max-sessions", type=int, default=comet.max_sessions,
                        help=f"comet sessions at most (default {comet.max_sessions})")
    parser.add_argument("--max-hold", type=float, default=comet.max_hold,
                        help=f"seconds a request is held at most (default {comet.max_hold:g})")
    parser.add_argument("--idle-timeout", type=float, default=comet.idle_timeout,
                        help="seconds without a request after which a comet session ends "
                             f"(default {comet.idle_timeout:g})")
    parser.add_argument("--max-upload", type=int, default=comet.max_upload,
                        help=f"bytes in one upload at most (default {comet.max_upload})")
    parser.add_argument("--max-unacked", type=int, default=comet.max_unacked,
                        help="bytes kept for one comet client until it acknowledges them "
                             f"(default {comet.max_unacked})")
    parser.add_argument("--chat-beat", type=float, default=10.0, metavar="SECONDS",
                        help="seconds between the chat pages' presence beats; a page silent "
                             "for three beats has left its room (default 10)")
    parser.add_argument("--recycle", type=int, default=1 << 20,
                        help="bytes of data after which a stream is ended and reopened "
                             "(default 1048576)")


def run(args: argparse.Namespace) -> int:
    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError
    from twisted.internet.task import LoopingCall

    from comet_core.chat import ChatLimits, ChatService
    from comet_core.hub import Hub
    from comet_core.transports.auth import users_checker
    from comet_core.transports.http.resource import CometResource
    from comet_core.transports.tcp import listen_stomp
    from comet_core.transports.websocket import StompWebSocketResource

    if not (args.docs / "docs" / "index.html").is_file():
        print(f"error: no built site in {args.docs}: run `make docs` first", file=sys.stderr)
        return 2
    try:
        checker = users_checker(args.users)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.chat_beat > 0:
        print("error: --chat-beat must be a positive number of seconds", file=sys.stderr)
        return 2
    hub = Hub()
    # The chat at /chat/ keeps its rooms' members and history in a service on the hub.
    chat = ChatService(hub, reactor.seconds, ChatLimits(beat=args.chat_beat))
    LoopingCall(chat.tick).start(min(1.0, args.chat_beat), now=False)
    limits = CometLimits(max_sessions=args.max_sessions, idle_timeout=args.idle_timeout,
                         max_hold=args.max_hold, max_unacked=args.max_unacked,
                         max_upload=args.max_upload)
    comet = CometResource(hub, reactor=reactor, limits=limits, checker=checker,
                          allowed_origins=tuple(args.allow_origin), recycle=args.recycle)
    reactor.addSystemEventTrigger("before", "shutdown", comet.shutdown)
    stomp_ws = StompWebSocketResource(hub, checker=checker, reactor=reactor,
                                      allowed_origins=tuple(args.allow_origin))
    reactor.addSystemEventTrigger("before", "shutdown", stomp_ws.shutdown)
    site = build_site(args.docs, {b"comet": comet, b"stomp": stomp_ws})
    site.max_body = args.max_upload
    try:
        port = reactor.listenTCP(args.port, site, interface=args.host)
    except CannotListenError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.socketError}",
              file=sys.stderr)
        return 2
    lines = []
    address = port.getHost()
    lines.append(f"Serving the site at http://{address.host}:{address.port}/ (Ctrl-C stops)")
    lines.append(f"Comet endpoints at http://{address.host}:{address.port}/comet/")
    lines.append(f"STOMP over WebSocket at ws://{address.host}:{address.port}/stomp")
    lines.append(f"Group chat at http://{address.host}:{address.port}/chat/")
    if not args.no_stomp:
        try:
            stomp = listen_stomp(reactor, hub, args.host, args.stomp_port, checker=checker)
        except CannotListenError as exc:
            # The site is still worth serving: say why the broker is missing and go on.
            lines.append(f"warning: no STOMP broker: cannot listen on {args.host}:"
                         f"{args.stomp_port} ({exc.socketError}); another broker may hold "
                         "that port: set STOMP_PORT=... (make) or --stomp-port")
        else:
            bound = stomp.getHost()
            lines.append(f"STOMP broker listening on {bound.host}:{bound.port}")
    # Announce once the reactor runs, so that Ctrl-C from then on stops it cleanly.
    reactor.callWhenRunning(print, "\n".join(lines), flush=True)
    reactor.run()
    print("Stopped.", flush=True)
    return 0
