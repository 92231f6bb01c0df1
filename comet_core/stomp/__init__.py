"""STOMP for comet_core: the frame codec (`frames`), the errors a peer can cause
(`errors`), version and heart-beat negotiation (`negotiation`) and the server side of one
connection (`session`).

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
from comet_core.stomp.negotiation import (
    SUPPORTED_VERSIONS,
    heart_beat_intervals,
    negotiate_version,
    parse_heart_beat,
)
from comet_core.stomp.session import (
    TRANSITIONS,
    FrameRejected,
    LoginRequest,
    ServerSession,
    SessionLimits,
    State,
    Subscription,
)

__all__ = [
    "RAW_COMMANDS",
    "SUPPORTED_VERSIONS",
    "TRANSITIONS",
    "VERSIONS",
    "Frame",
    "FrameParser",
    "FrameRejected",
    "LoginRequest",
    "ServerSession",
    "SessionLimits",
    "State",
    "Subscription",
    "FrameTooLarge",
    "HeaderTooLong",
    "LimitExceeded",
    "MalformedFrame",
    "StompError",
    "TooManyHeaders",
    "encode_frame",
    "heart_beat_intervals",
    "negotiate_version",
    "parse_heart_beat",
]
