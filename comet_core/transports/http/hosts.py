"""Which names the server answers to: the ``Host`` check against DNS rebinding.

A hostile page at ``http://evil.example:8000`` can make its own name resolve to
127.0.0.1 a moment after the page loaded ("DNS rebinding"). The browser then sends the
page's requests to the server on the reader's own machine, and since they go to the
page's own origin, it lets the page read the answers. What gives the trick away is the
``Host`` header: it still says ``evil.example:8000``. So every request whose Host is not
one of the server's own names is refused (421) before anything else is done, on every
path; and the server's own origin, for the ``Origin`` check, is only ever built from a
Host that passed.

The names answered to by default cannot be rebound by a stranger: ``localhost``, any IP
address written as such (``127.0.0.1``, ``[::1]``, ``192.168.1.20``: a page whose
address bar shows an address is not on the attacker's name), and the name `serve` was
told to listen on. A server reached by a name (``chat.example.org``, behind a proxy or
not) must be told that name (``serve --host-name`` or ``--public-url``). The port is not
checked: a rebinding page needs a name of its own, whatever the port.

A request without Host is refused too (400) when it is HTTP/1.1, which requires one;
HTTP/1.0 clients may omit it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

#: A host name as it may appear in ``Host`` (letters, digits, hyphens, dots).
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
#: The names every server answers to (IP addresses are accepted apart).
LOOPBACK_NAMES = ("localhost",)


class HostRefused(Exception):
    """A request's Host is missing, malformed, or not one of the server's names.

    ``status`` is the HTTP status to answer with; ``str()`` the one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def split_host(value: str) -> tuple[str, str | None]:
    """``name[:port]`` as (name, port or None); the name lower-case, an IPv6 address
    without its brackets, a final dot dropped. Raises ValueError when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError(value)
        name, rest = value[1:end], value[end + 1:]
        ipaddress.IPv6Address(name)  # ValueError when it is not one
        if rest and not rest.startswith(":"):
            raise ValueError(value)
        port = rest[1:] if rest else None
    else:
        name, sep, port_text = value.partition(":")
        port = port_text if sep else None
    if port is not None and not _PORT.fullmatch(port):
        raise ValueError(value)
    name = name.removesuffix(".") if not name.endswith("..") else name
    if not name or not (_NAME.fullmatch(name) or ":" in name):
        raise ValueError(value)
    return name, port


def is_address(name: str) -> bool:
    """Whether `name` (as `split_host` gives it) is an IP address rather than a name."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """The names a server answers to; see the module docstring.

    `names`: host names beyond the defaults (``localhost`` and IP addresses), without
    port. ``"*"`` answers to every name: only behind a proxy that checks Host itself.
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        wanted = set(LOOPBACK_NAMES)
        self.any_name = False
        for name in names:
            if name.strip() == "*":
                self.any_name = True
                continue
            wanted.add(split_host(name)[0])
        self.names = frozenset(wanted)

    def check(self, host: list[bytes] | None, version: bytes) -> None:
        """Raise `HostRefused` unless the Host header values `host` (None when absent)
        name this server."""
        if not host:
            if version == b"HTTP/1.1":
                raise HostRefused(400, "An HTTP/1.1 request must say which server it is for "
                                       "in a Host header.")
            return
        if len(host) > 1:
            raise HostRefused(400, "A request may carry one Host header only.")
        text = host[0].decode("latin-1")
        try:
            name, _ = split_host(text)
        except ValueError:
            raise HostRefused(400, f"The Host header {text[:100]!r} is not a host name "
                                   "or address (with an optional :port).") from None
        if self.any_name or name in self.names or is_address(name):
            return
        raise HostRefused(421, f"This server does not answer to the name {name[:100]!r}. "
                               "Its operator can add it (serve --host-name or --public-url).")


def public_url(url: str) -> tuple[str, str]:
    """The (host name, origin) of a public URL (``https://chat.example.org``), the
    address readers' browsers use for a server behind a proxy. ValueError when it is not
    an http(s) URL with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host name")
    name, _ = split_host(parts.netloc.rpartition("@")[2])
    default = {"http": 80, "https": 443}[parts.scheme]
    port = parts.port
    host = f"[{name}]" if ":" in name else name
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")
    return name, origin
