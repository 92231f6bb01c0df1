"""Failed logins, slowed down per client address (sans-IO: the clock is passed in).

Without a bound a client may try thousands of passwords a second. Each address has a
leaky bucket: a failed login adds one, and the bucket drains at ``failures`` per
``window`` seconds. While the bucket holds ``failures`` or more, a login from that
address is refused before it is checked, with the seconds to wait. So a person who
mistypes a few times never notices, and a password guesser gets ``failures`` tries per
``window`` (10 a minute by default), not thousands a second.

The table of addresses is bounded (``max_addresses``): when it is full, addresses whose
bucket has drained are forgotten first, then the tenth that failed longest ago.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Failed logins of each client address, for one server (shared by its transports)."""

    __slots__ = ("failures", "window", "max_addresses", "_clock", "_rate", "_buckets")

    def __init__(self, failures: int = 10, window: float = 60.0, *,
                 max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1 or window <= 0 or max_addresses < 1:
            raise ValueError("failures, window and max_addresses must be positive")
        self.failures = failures
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        self._rate = failures / window  # failures forgiven per second
        # address -> (level, when it was last updated); oldest update first.
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def addresses(self) -> int:
        """How many addresses the table holds."""
        return len(self._buckets)

    def wait(self, address: str) -> float:
        """Seconds before `address` may try to log in again (0.0: it may now)."""
        bucket = self._buckets.get(address)
        if bucket is None:
            return 0.0
        level = self._level(bucket, self._clock())
        excess = level - (self.failures - 1)
        return excess / self._rate if excess > 0 else 0.0

    def failed(self, address: str) -> None:
        """A login from `address` was refused by the checker."""
        now = self._clock()
        bucket = self._buckets.pop(address, None)
        level = 0.0 if bucket is None else self._level(bucket, now)
        if bucket is None and len(self._buckets) >= self.max_addresses:
            self._make_room(now)
        self._buckets[address] = (level + 1.0, now)  # last in order: the newest

    def _level(self, bucket: tuple[float, float], now: float) -> float:
        level, since = bucket
        return max(0.0, level - (now - since) * self._rate)

    def _make_room(self, now: float) -> None:
        buckets = self._buckets
        drained = [a for a, b in buckets.items() if self._level(b, now) == 0.0]
        for address in drained:
            del buckets[address]
        if len(buckets) >= self.max_addresses:  # a tenth at once: no scan per failure
            for address in list(buckets)[: self.max_addresses // 10 + 1]:
                del buckets[address]
