"""Who a client is, for the bounds per client: its address, grouped, and counts of what
each holds. Sans-IO: strings in, counts out.

One client must not be able to hold what all the others need (connections, comet
sessions), so those are bounded per client address as well as in total. Two questions
decide what "one client" is:

- **IPv6**: a single machine usually has a whole /64 network to itself and may pick any
  address in it, so a bound per IPv6 address would bind nobody. Addresses are grouped by
  their /64 prefix; an IPv4 address (or one mapped into IPv6) is one client.
- **Behind a proxy** every connection comes from the proxy. The address the proxy saw is
  in ``X-Forwarded-For`` (or ``X-Real-IP``), but any client can send those headers, so
  they are believed only from a proxy named as trusted (``serve --trusted-proxy``): the
  client is then the rightmost address in ``X-Forwarded-For`` that is not itself a
  trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def client_key(address: str) -> str:
    """The key one client's address is counted under (see the module docstring)."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address  # not an IP address (a UNIX socket, a test): itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class TrustedProxies:
    """The proxies whose forwarding headers are believed (addresses or networks)."""

    def __init__(self, proxies: Iterable[str] = ()) -> None:
        self.networks = tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)

    def client(self, peer: str, forwarded_for: list[bytes] | None,
               real_ip: list[bytes] | None) -> str:
        """The client's address: `peer`, unless `peer` is a trusted proxy that said whom
        it forwards for (``X-Forwarded-For``, else ``X-Real-IP``)."""
        if not self.trusts(peer):
            return peer
        hops = [hop.strip() for value in forwarded_for or ()
                for hop in value.decode("latin-1").split(",")]
        for hop in reversed(hops):
            if not hop:
                continue
            if not self.trusts(hop):
                return hop if _is_ip(hop) else peer
        if real_ip and _is_ip(real_ip[-1].decode("latin-1").strip()):
            return real_ip[-1].decode("latin-1").strip()
        return peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


class Counts:
    """How many of something each client holds, with a bound per client (0: none)."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._held: dict[str, int] = {}

    def __len__(self) -> int:
        """How many clients hold at least one."""
        return len(self._held)

    def held(self, key: str) -> int:
        return self._held.get(key, 0)

    def full(self, key: str) -> bool:
        """Whether `key` holds its bound already (never, without a bound)."""
        return self.bound > 0 and self._held.get(key, 0) >= self.bound

    def add(self, key: str) -> None:
        self._held[key] = self._held.get(key, 0) + 1

    def remove(self, key: str) -> None:
        left = self._held.get(key, 0) - 1
        if left > 0:
            self._held[key] = left
        else:
            self._held.pop(key, None)
