"""Serve the tutorial site and its live endpoints over HTTP, with the STOMP broker beside it.

The HTTP server and the broker share one hub, so a backend speaking STOMP over TCP and the
browser-side transports of later parts meet the same topics and queues.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from comet_core import stomp_options
from comet_core.chat import CHAT_LIST_MAX, ChatLimits
from comet_core.comet import CometLimits
from comet_core.transports.http.addresses import TrustedProxies
from comet_core.transports.http.hosts import HostPolicy, is_address, public_url, split_host
from comet_core.transports.http.request import (
    BODY_MIN_RATE,
    BODY_TIMEOUT,
    HEADER_TIMEOUT,
    MAX_CONNECTIONS_PER_ADDRESS,
)
from comet_core.transports.ws_control import CLOSE_TIMEOUT, CONTROL_RATE, WebSocketLimits
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
    parser.add_argument("--host-name", action="append", default=[], metavar="NAME",
                        help="a name this server answers to besides localhost and IP addresses "
                             "(repeatable; a request for any other name is refused, against "
                             "DNS rebinding; '*' answers to every name)")
    parser.add_argument("--public-url", action="append", default=[], metavar="URL",
                        help="the address readers use, e.g. https://chat.example.org behind a "
                             "proxy: its name is answered to and its origin allowed "
                             "(repeatable)")
    parser.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDRESS",
                        help="a proxy (address or network) whose X-Forwarded-For / X-Real-IP "
                             "say who the client is, for the bounds per address (repeatable)")
    parser.add_argument("--max-connections", type=int, default=None, metavar="N",
                        help="HTTP connections at once (default: the open-file limit less a "
                             "fiftieth, at least 64; 0: no bound)")
    parser.add_argument("--max-connections-per-address", type=int,
                        default=MAX_CONNECTIONS_PER_ADDRESS, metavar="N",
                        help="HTTP connections from one client address at once (default "
                             f"{MAX_CONNECTIONS_PER_ADDRESS}; 0: no bound)")
    parser.add_argument("--header-timeout", type=float, default=HEADER_TIMEOUT,
                        metavar="SECONDS",
                        help="seconds a request's head may take to arrive "
                             f"(default {HEADER_TIMEOUT:g}; 0: no deadline)")
    parser.add_argument("--body-timeout", type=float, default=BODY_TIMEOUT, metavar="SECONDS",
                        help="seconds a request body may take, plus one per --body-min-rate "
                             f"bytes received (default {BODY_TIMEOUT:g}; 0: no deadline)")
    parser.add_argument("--body-min-rate", type=int, default=BODY_MIN_RATE, metavar="BYTES",
                        help=f"bytes per second a slow body must keep up (default "
                             f"{BODY_MIN_RATE})")
    comet = CometLimits()
    parser.add_argument("--max-sessions", type=int, default=comet.max_sessions,
                        help=f"comet sessions at most (default {comet.max_sessions})")
    parser.add_argument("--max-sessions-per-address", type=int,
                        default=comet.max_sessions_per_address, metavar="N",
                        help="comet sessions from one client address at most (default "
                             f"{comet.max_sessions_per_address}; 0: no bound)")
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
    chat = ChatLimits()
    parser.add_argument("--chat-history", type=int, default=chat.history, metavar="N",
                        help="chat lines kept per room for newcomers (default "
                             f"{chat.history}; at most {CHAT_LIST_MAX})")
    parser.add_argument("--chat-rooms", type=int, default=chat.max_rooms, metavar="N",
                        help=f"chat rooms open at once (default {chat.max_rooms})")
    parser.add_argument("--chat-members", type=int, default=chat.max_members, metavar="N",
                        help=f"members of one chat room (default {chat.max_members}; at most "
                             f"{CHAT_LIST_MAX})")
    parser.add_argument("--recycle", type=int, default=1 << 20,
                        help="bytes of data after which a stream is ended and reopened "
                             "(default 1048576)")
    parser.add_argument("--ws-control-rate", type=float, default=CONTROL_RATE, metavar="N",
                        help="pings and pongs per second a WebSocket client may send, in "
                             "bursts of as many; past it the socket closes with code 1008 "
                             f"(default {CONTROL_RATE:g})")
    parser.add_argument("--ws-close-timeout", type=float, default=CLOSE_TIMEOUT,
                        metavar="SECONDS",
                        help="seconds a closing WebSocket may take to deliver its last bytes "
                             f"before it is cut (default {CLOSE_TIMEOUT:g})")
    stomp_options.add_arguments(parser)  # the same STOMP bounds as `broker`'s


def _who(args: argparse.Namespace) -> tuple[HostPolicy, tuple[str, ...], TrustedProxies]:
    """The names served, the origins allowed and the proxies trusted, from the options;
    ValueError (its text for the reader) when one is malformed."""
    names = list(args.host_name)
    if not is_address(args.host):  # told to listen on a name: it answers to it
        names.append(args.host)
    origins = list(args.allow_origin)
    for url in args.public_url:
        name, origin = public_url(url)
        names.append(name)
        origins.append(origin)
    for name in names:
        if name.strip() != "*":
            try:
                split_host(name)
            except ValueError:
                raise ValueError(f"--host-name {name!r} is not a host name") from None
    try:
        proxies = TrustedProxies(args.trusted_proxy)
    except ValueError as exc:
        raise ValueError(f"--trusted-proxy: {exc}") from None
    return HostPolicy(names), tuple(origins), proxies


def run(args: argparse.Namespace) -> int:
    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError
    from twisted.internet.task import LoopingCall

    from comet_core.chat import ChatService
    from comet_core.hub import Hub
    from comet_core.transports.auth import throttled, users_checker
    from comet_core.transports.http.resource import CometResource
    from comet_core.transports.tcp import listen_stomp
    from comet_core.transports.websocket import StompWebSocketResource

    if not (args.docs / "docs" / "index.html").is_file():
        print(f"error: no built site in {args.docs}: run `make docs` first", file=sys.stderr)
        return 2
    try:
        checker = users_checker(args.users)
        stomp_settings = stomp_options.settings_from(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if checker is not None:  # one table of failed logins for TCP, /stomp and /comet/
        checker = throttled(checker, stomp_settings.throttle())
    if not args.chat_beat > 0:
        print("error: --chat-beat must be a positive number of seconds", file=sys.stderr)
        return 2
    if not (0 < args.chat_history <= CHAT_LIST_MAX and 0 < args.chat_members <= CHAT_LIST_MAX
            and args.chat_rooms > 0):
        print(f"error: --chat-history and --chat-members must be 1 to {CHAT_LIST_MAX}, "
              "--chat-rooms at least 1", file=sys.stderr)
        return 2
    try:
        hosts, origins, proxies = _who(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if min(args.max_connections or 0, args.max_connections_per_address,
           args.max_sessions_per_address, args.header_timeout, args.body_timeout) < 0 \
            or args.body_min_rate <= 0:
        print("error: the connection and session bounds and the deadlines cannot be "
              "negative (0 turns one off), and --body-min-rate must be positive",
              file=sys.stderr)
        return 2
    if not (args.ws_control_rate > 0 and args.ws_close_timeout > 0):
        print("error: --ws-control-rate and --ws-close-timeout must be positive numbers",
              file=sys.stderr)
        return 2
    hub = Hub()
    hub.budget = stomp_settings.budget()  # shared by every STOMP session of this server
    # The chat at /chat/ keeps its rooms' members and history in a service on the hub.
    chat = ChatService(hub, reactor.seconds,
                       ChatLimits(beat=args.chat_beat, history=args.chat_history,
                                  max_rooms=args.chat_rooms, max_members=args.chat_members))
    LoopingCall(chat.tick).start(min(1.0, args.chat_beat), now=False)
    limits = CometLimits(max_sessions=args.max_sessions, idle_timeout=args.idle_timeout,
                         max_hold=args.max_hold, max_unacked=args.max_unacked,
                         max_upload=args.max_upload,
                         max_sessions_per_address=args.max_sessions_per_address)
    comet = CometResource(hub, reactor=reactor, limits=limits, checker=checker,
                          allowed_origins=origins, recycle=args.recycle,
                          stomp_limits=stomp_settings.limits)
    reactor.addSystemEventTrigger("before", "shutdown", comet.shutdown)
    stomp_ws = StompWebSocketResource(hub, checker=checker, reactor=reactor,
                                      allowed_origins=origins, limits=stomp_settings.limits)
    reactor.addSystemEventTrigger("before", "shutdown", stomp_ws.shutdown)
    site = build_site(args.docs, {b"comet": comet, b"stomp": stomp_ws})
    site.max_body = args.max_upload
    site.websocket_limits = WebSocketLimits(control_rate=args.ws_control_rate,
                                            close_timeout=args.ws_close_timeout)
    site.hosts, site.proxies = hosts, proxies
    site.header_timeout = args.header_timeout if args.header_timeout > 0 else None
    site.body_timeout = args.body_timeout if args.body_timeout > 0 else None
    site.body_min_rate = args.body_min_rate
    if args.max_connections is not None:
        site.max_connections = args.max_connections
    site.max_connections_per_address = args.max_connections_per_address
    try:
        port = reactor.listenTCP(args.port, site, backlog=stomp_settings.backlog,
                                 interface=args.host)
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
    names = "every name" if hosts.any_name else ", ".join(sorted(hosts.names))
    lines.append(f"Answering to IP addresses and {names} (more: --host-name)")
    if not args.no_stomp:
        try:
            stomp = listen_stomp(reactor, hub, args.host, args.stomp_port, checker=checker,
                                 limits=stomp_settings.limits, backlog=stomp_settings.backlog)
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
