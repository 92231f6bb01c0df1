"""Run the STOMP broker on TCP (STOMP 1.0, 1.1 and 1.2; topics and queues).

Clients such as stomp.py, stomper or a terminal connect to it on port 61613 by default.
Without --users anybody may connect; with it, only the users in the file may, with the
passwords given there (one `user:password` per line, plain text: keep the file private).
Ctrl-C (or SIGTERM) stops it cleanly: each client gets an ERROR saying so, then its
connection closes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from comet_core.stomp.negotiation import parse_heart_beat


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=61613,
                        help="TCP port (default 61613; 0 picks a free one)")
    parser.add_argument("--users", type=Path, metavar="FILE",
                        help="require a login: a file of user:password lines")
    parser.add_argument("--heart-beat", default="1000,1000", metavar="SX,SY",
                        help="shortest heart-beat intervals the broker agrees to, in ms "
                             "(sending, receiving; 0,0 turns heart-beats off)")
    parser.add_argument("--quiet", action="store_true",
                        help="do not log each connection")


def run(args: argparse.Namespace) -> int:
    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    from comet_core.hub import Hub
    from comet_core.stomp.session import SessionLimits
    from comet_core.transports.auth import users_checker
    from comet_core.transports.tcp import listen_stomp

    try:
        heart_beat = parse_heart_beat(args.heart_beat)
    except ValueError as exc:
        print(f"error: --heart-beat {args.heart_beat}: {exc}", file=sys.stderr)
        return 2
    try:
        checker = users_checker(args.users)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    hub = Hub()
    try:
        port = listen_stomp(reactor, hub, args.host, args.port, checker=checker,
                            limits=SessionLimits(heart_beat=heart_beat))
    except CannotListenError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.socketError}",
              file=sys.stderr)
        return 2
    address = port.getHost()
    print(f"STOMP broker listening on {address.host}:{address.port} (Ctrl-C stops)",
          flush=True)
    predicate = LogLevelFilterPredicate(LogLevel.warn if args.quiet else LogLevel.info)
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stdout), [predicate])],
        discardBuffer=True, redirectStandardIO=False)
    reactor.run()
    print("Stopped.", flush=True)
    return 0
