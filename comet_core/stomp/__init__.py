"""STOMP for comet_core: frames and their codec (`frames`), errors a peer can cause.

Everything here is sans-IO: objects fed bytes, returning frames, with no sockets.
"""

from comet_core.stomp.errors import (
    FrameTooLarge,
    HeaderTooLong,
    LimitExceeded,
    MalformedFrame,
    StompError,
    TooManyHeaders,
)
from comet_core.stomp.frames import RAW_COMMANDS, VERSIONS, Frame, FrameParser, encode_frame

__all__ = [
    "RAW_COMMANDS",
    "VERSIONS",
    "Frame",
    "FrameParser",
    "FrameTooLarge",
    "HeaderTooLong",
    "LimitExceeded",
    "MalformedFrame",
    "StompError",
    "TooManyHeaders",
    "encode_frame",
]
