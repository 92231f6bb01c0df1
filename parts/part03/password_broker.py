"""Part 3: a broker that requires passwords, assembled from comet_core's pieces.

`python -m comet_core broker --users FILE` does the same from a file of ``user:password``
lines. Here the pieces are visible: a hub, a twisted.cred checker, and the TCP listener.

    python parts/part03/password_broker.py --port 61614
    python parts/part02/publish.py /topic/news "hi" --port 61614 --login alice --passcode wonderland
"""

from __future__ import annotations

import argparse
import sys

from twisted.internet import reactor

from comet_core.hub import Hub
from comet_core.transports.auth import password_checker
from comet_core.transports.tcp import listen_stomp

# A real broker would read these from somewhere private, or check a user database.
USERS = {"alice": "wonderland", "backend": "a long random secret"}


# start-broker
def start(host: str, port: int) -> int:
    """Listen for STOMP clients that must log in; return the port."""
    checker = password_checker(USERS)  # any twisted.cred ICredentialsChecker will do
    listening = listen_stomp(reactor, Hub(), host, port, checker=checker)
    return listening.getHost().port
# end-broker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=61614, help="0 picks a free port")
    args = parser.parse_args(argv)
    port = start(args.host, args.port)
    print(f"STOMP broker (login required) listening on {args.host}:{port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
