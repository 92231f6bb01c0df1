"""The bounds of a WebSocket's control frames (ping, pong), sans-IO.

A peer may send a ping at any moment, and the protocol says it must be answered with a
pong carrying the ping's payload (up to 125 bytes). Answered blindly, a client that sends
pings and never reads its pongs makes the server keep every pong it cannot deliver: one
socket can take the server's memory. Three rules keep control frames as bounded as data:

- **Back-pressure.** While the connection's unsent output is over the transport's bound,
  the socket is not read at all (`comet_core.transports.websocket.BoundedWire`): pings
  that are not read are not answered, and wait in the kernel's buffers, not in ours.
- **One pong per read.** Of the pings found in one read, only the last is answered, as
  RFC 6455 (section 5.5.3) allows: a read of 64 KiB of pings costs one pong.
- **A rate.** `ControlBudget`: a peer may send `WebSocketLimits.control_rate` control
  frames per second on average, in bursts of as many; past it the connection is closed
  with code 1008 (policy). Browsers send none; libraries ping every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Control frames a peer may send per second (and in a burst) by default.
CONTROL_RATE = 20.0
#: Seconds a closed WebSocket may take to send its last bytes before it is cut.
CLOSE_TIMEOUT = 10.0


@dataclass(frozen=True)
class WebSocketLimits:
    """The bounds every WebSocket of a server keeps, whatever it carries."""

    #: Control frames (ping, pong) per second a peer may send, on average, in bursts of
    #: as many; past it: close code 1008.
    control_rate: float = CONTROL_RATE
    #: Seconds a closing socket may take to deliver its last bytes (a peer that does not
    #: read would hold it open for ever); then it is cut.
    close_timeout: float = CLOSE_TIMEOUT

    def __post_init__(self) -> None:
        if not self.control_rate > 0:
            raise ValueError("the control frame rate must be a positive number per second")
        if not self.close_timeout > 0:
            raise ValueError("the close timeout must be a positive number of seconds")


class ControlBudget:
    """A token bucket for one connection's control frames: `spend` says whether one more
    may come now. It holds `rate` tokens (at least one) and regains `rate` per second."""

    __slots__ = ("rate", "capacity", "tokens", "last")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = self.tokens = max(1.0, rate)
        self.last = now

    def spend(self, now: float) -> bool:
        """Take one token at `now`; False when there was none left."""
        elapsed = now - self.last
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
