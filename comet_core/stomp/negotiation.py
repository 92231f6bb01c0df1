"""What a CONNECT frame negotiates: the protocol version and the heart-beat intervals.

Pure functions, so that a page or a notebook can show the rules on their own, and the
session (`comet_core.stomp.session`) stays about state.
"""

from __future__ import annotations

#: The versions this server speaks, oldest first (the codec's ``VERSIONS``).
SUPPORTED_VERSIONS: tuple[str, ...] = ("1.0", "1.1", "1.2")


def negotiate_version(accept_version: str | None,
                      supported: tuple[str, ...] = SUPPORTED_VERSIONS) -> str | None:
    """The highest version both sides speak, or None when they share none.

    A CONNECT without ``accept-version`` comes from a STOMP 1.0 client (the header was
    added in 1.1), so its absence means "1.0". The header is a comma-separated list;
    blanks around the entries are tolerated, unknown entries (say "2.0") are ignored.
    """
    if accept_version is None:
        offered = {"1.0"}
    else:
        offered = {v.strip() for v in accept_version.split(",")}
    common = [v for v in supported if v in offered]
    return max(common, key=_version_key) if common else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def parse_heart_beat(value: str | None) -> tuple[int, int]:
    """The two numbers of a ``heart-beat`` header, in milliseconds; (0, 0) when absent.

    Raises ValueError for anything but two non-negative integers separated by a comma,
    so that the session can answer with an ERROR that quotes the header.
    """
    if value is None:
        return (0, 0)
    parts = value.split(",")
    if len(parts) != 2:
        raise ValueError("expected two numbers separated by a comma, like 10000,10000")
    numbers = []
    for part in parts:
        part = part.strip()
        if not part.isdigit():
            raise ValueError("expected two non-negative whole numbers of milliseconds")
        numbers.append(int(part))
    return (numbers[0], numbers[1])


def heart_beat_intervals(client: tuple[int, int], server: tuple[int, int]) -> tuple[int, int]:
    """(server-to-client, client-to-server) beat intervals in ms; 0 means no beats that way.

    The client says (cx, cy): "I can send every cx ms, I want a beat every cy ms"; the
    server answers (sx, sy) the same way. A direction is on only when the sender can send
    and the receiver wants them, and then the slower of the two wishes wins: max().
    """
    cx, cy = client
    sx, sy = server
    to_client = max(sx, cy) if sx and cy else 0
    to_server = max(cx, sy) if cx and sy else 0
    return (to_client, to_server)
