"""The protocol errors a STOMP peer can cause.

Each one carries what the broker needs to answer with an ERROR frame: a short `message`
for the frame's ``message`` header and a longer `detail` for its body. A peer that causes
one gets that ERROR, then the connection closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from comet_core.stomp.frames import Frame


class StompError(Exception):
    """A protocol error the peer caused.

    `frames` holds the complete frames a `FrameParser.feed` call had parsed before it met
    the error, so that a session can still act on them before it sends its ERROR.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.frames: list[Frame] = []

    def __str__(self) -> str:
        return f"{self.message}: {self.detail}" if self.detail else self.message


class MalformedFrame(StompError):
    """Bytes that are not a STOMP frame: bad command, header line, escape, UTF-8, or length."""


class LimitExceeded(StompError):
    """A frame went past one of the parser's configurable bounds.

    `bound` names the `FrameParser` setting and `limit` is its value, so the peer learns
    which bound it hit and the operator knows which setting to raise.
    """

    bound = ""

    def __init__(self, message: str, detail: str = "", *, limit: int = 0) -> None:
        super().__init__(message, detail)
        self.limit = limit


class FrameTooLarge(LimitExceeded):
    """The command, headers and body together are longer than ``max_frame_size`` bytes."""

    bound = "max_frame_size"


class TooManyHeaders(LimitExceeded):
    """A frame has more than ``max_headers`` header lines."""

    bound = "max_headers"


class HeaderTooLong(LimitExceeded):
    """A header line (or the command line) is longer than ``max_header_length`` bytes."""

    bound = "max_header_length"
