"""Serve the tutorial site and its live endpoints over HTTP."""

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


def run(args: argparse.Namespace) -> int:
    from twisted.internet import reactor

    if not (args.docs / "docs" / "index.html").is_file():
        print(f"error: no built site in {args.docs}: run `make docs` first", file=sys.stderr)
        return 2
    try:
        port = reactor.listenTCP(args.port, build_site(args.docs), interface=args.host)
    except Exception as exc:  # CannotListenError and friends: say it plainly
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    address = port.getHost()
    print(f"Serving the site at http://{address.host}:{address.port}/ (Ctrl-C stops)",
          flush=True)
    reactor.run()
    print("Stopped.", flush=True)
    return 0
