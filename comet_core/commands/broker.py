"""Run the STOMP broker on TCP (STOMP 1.0, 1.1 and 1.2; topics and queues).

Clients such as stomp.py, stomper or a terminal connect to it on port 61613 by default.
Without --users anybody may connect; with it, only the users in the file may, with the
passwords given there (one `user:password` per line, plain text: keep the file private).
Ctrl-C (or SIGTERM) stops it cleanly: each client gets an ERROR saying so, then its
connection closes. Every bound is an option (`comet_core.stomp_options`, shared with
`serve`); docs/reference/limits.md says what a client sees at each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from comet_core import stomp_options as limits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=61613,
                        help="TCP port (default 61613; 0 picks a free one)")
    parser.add_argument("--users", type=Path, metavar="FILE",
                        help="require a login: a file of user:password lines")
    parser.add_argument("--quiet", action="store_true",
                        help="do not log each connection")
    limits.add_arguments(parser)


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
    from comet_core.transports.auth import throttled, users_checker
    from comet_core.transports.tcp import listen_stomp

    try:
        settings = limits.settings_from(args)
        checker = users_checker(args.users)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if checker is not None:
        checker = throttled(checker, settings.throttle())

    hub = Hub()
    hub.budget = settings.budget()
    try:
        port = listen_stomp(reactor, hub, args.host, args.port, checker=checker,
                            limits=settings.limits, backlog=settings.backlog)
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
