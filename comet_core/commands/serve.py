"""Serve the tutorial site and its live endpoints over HTTP, with the STOMP broker beside it.

The HTTP server and the broker share one hub, so a backend speaking STOMP over TCP and the
browser-side transports of later parts meet the same topics and queues.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from comet_core.web import build_site


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (0 picks a free one)")
    parser.add_argument("--docs", type=Path, default=Path("_build/html"),
                        help="the built site to serve (make docs builds it)")
    parser.add_argument("--stomp-port", type=int, default=61613,
                        help="STOMP broker port (default 61613; 0 picks a free one)")
    parser.add_argument("--no-stomp", action="store_true", help="do not start the broker")


def run(args: argparse.Namespace) -> int:
    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError

    from comet_core.hub import Hub
    from comet_core.transports.tcp import listen_stomp

    if not (args.docs / "docs" / "index.html").is_file():
        print(f"error: no built site in {args.docs}: run `make docs` first", file=sys.stderr)
        return 2
    hub = Hub()
    try:
        port = reactor.listenTCP(args.port, build_site(args.docs), interface=args.host)
    except CannotListenError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.socketError}",
              file=sys.stderr)
        return 2
    lines = []
    address = port.getHost()
    lines.append(f"Serving the site at http://{address.host}:{address.port}/ (Ctrl-C stops)")
    if not args.no_stomp:
        try:
            stomp = listen_stomp(reactor, hub, args.host, args.stomp_port)
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
