"""Who may call the comet endpoints from a web page: the ``Origin`` check and CORS.

A browser sends ``Origin`` with every cross-origin request (and with same-origin POSTs);
other clients (curl, a backend) send none and are not a browser page's attack, so a
request without it is allowed. A request whose origin is neither the server's own
(``scheme://Host``, for a Host that names this server: `comet_core.transports.http.hosts`)
nor in the allow-list is refused with 403 before anything else is done: checking only on
the browser's side (CORS alone) would still let a hostile page *send* (upload a STOMP
SEND) with a simple request. An allowed origin gets ``Access-Control-Allow-Origin``
naming it exactly as that request sent it (origins are compared without regard to case,
but a browser compares the answer with its own spelling); no credentials (cookies) are
involved, since the session id travels in the URL.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.web.server import Request

from comet_core.transports.http.hosts import HostPolicy, HostRefused

#: The names a request's Host may give when the site says nothing (the defaults).
_DEFAULT_HOSTS = HostPolicy()


class OriginRefused(Exception):
    """The request's Origin may not use these endpoints; the text says so."""


#: What a preflight grants: our methods, and the headers our clients send.
PREFLIGHT = (b"Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS\r\n"
             b"Access-Control-Allow-Headers: Content-Type, Last-Event-ID\r\n"
             b"Access-Control-Max-Age: 600\r\n")


class OriginPolicy:
    """The allow-list (origins as ``scheme://host[:port]``; the server's own is implied)."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = frozenset(o.rstrip("/").lower().encode("ascii") for o in allowed)
        # An origin, exactly as sent -> its response headers, built once.
        self._grants: dict[bytes, bytes] = {}

    def check(self, request: Request) -> bytes:
        """The CORS response headers for `request` (b"" without Origin); raises
        `OriginRefused` for an origin not allowed."""
        origins = request.requestHeaders.getRawHeaders(b"origin")
        if not origins:
            return b""
        sent = origins[0]
        grant = self._grants.get(sent)
        if grant is not None:
            return grant
        origin = sent.lower()
        if origin not in self.allowed and origin != self._own(request):
            shown = origins[0].decode("latin-1")[:200]
            raise OriginRefused(
                f"Origin {shown} may not use this server's comet endpoints: only its own "
                "origin and the ones it was started with (serve --allow-origin) may.")
        grant = b"Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n" % sent
        if origin in self.allowed and len(self._grants) < 1000:
            self._grants[sent] = grant  # the own origin depends on Host: not cached
        return grant

    @staticmethod
    def _own(request: Request) -> bytes | None:
        """``scheme://Host`` when Host names this server (`HostPolicy`), else None."""
        host = request.requestHeaders.getRawHeaders(b"host")
        hosts = getattr(getattr(request.channel, "site", None), "hosts", _DEFAULT_HOSTS)
        try:
            hosts.check(host, b"HTTP/1.1")
        except HostRefused:
            return None
        assert host is not None
        return (b"https://" if request.isSecure() else b"http://") + host[0].strip().lower()
