"""The STOMP bounds as command-line options, shared by the `broker` and `serve` commands.

Every bound and timer of `SessionLimits` becomes an option named after it
(``max_frame_size`` is ``--max-frame-size``), so that a new bound is an option of both
commands at once; beside them the server-wide ones: the memory budget, the listen backlog
and the pace of failed logins. `add_arguments` adds them all, `settings_from` checks the
values together and builds what the servers take.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass

from comet_core.budget import DEFAULT_MEMORY_BUDGET, MemoryBudget
from comet_core.stomp.negotiation import parse_heart_beat
from comet_core.stomp.session import SessionLimits
from comet_core.throttle import LoginThrottle

__all__ = ["StompSettings", "add_arguments", "settings_from"]

#: Listen backlog (see `comet_core.transports.tcp.DEFAULT_BACKLOG`; not imported from
#: there, so that ``--help`` does not load Twisted).
DEFAULT_BACKLOG = 4096

#: Option names that differ from the field's (``serve`` has a --max-unacked of its own,
#: in bytes, for comet sessions).
_RENAMED = {"max_unacked": "max-unacked-messages"}

_HELP = {
    "max_frame_size": "bytes in one frame, command, headers and body together",
    "max_headers": "headers in one frame",
    "max_header_length": "bytes in one header line",
    "max_held_bytes": "bytes received while a login is checked or a publisher waits",
    "outbound_soft": "unsent bytes of one client past which its publishers wait",
    "outbound_hard": "unsent bytes of one client past which it ends as a slow consumer",
    "prefetch": "messages awaiting ACK on one subscription when it does not choose",
    "max_prefetch": "largest prefetch-count a subscription may choose",
    "max_unacked": "messages awaiting ACK on one topic subscription before it is a slow "
                   "consumer",
    "max_subscriptions": "subscriptions of one connection",
    "max_transactions": "open transactions of one connection",
    "max_transaction_bytes": "bytes of frames held by the open transactions of one connection",
    "heart_beat": "shortest heart-beat intervals the broker agrees to, in ms (sending, "
                  "receiving; 0,0 turns heart-beats off)",
    "heart_beat_grace": "how many heart-beat intervals of silence end a connection",
    "connect_timeout": "seconds from connecting to a complete CONNECT and its login",
    "flow_timeout": "seconds a publisher waits at most for slow subscribers",
    "slow_consumer_timeout": "seconds a topic subscriber may stay behind before it ends as "
                             "a slow consumer",
}

_SIZE = re.compile(r"(\d+)\s*([kmg]?)i?b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def size(text: str) -> int:
    """A number of bytes: ``1048576``, ``1024k``, ``1m``, ``256MiB`` (units of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 1048576, 64k or 1m")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def _heart_beat(text: str) -> tuple[int, int]:
    try:
        return parse_heart_beat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _option(name: str) -> str:
    return "--" + _RENAMED.get(name, name.replace("_", "-"))


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add an option for every `SessionLimits` field and the server-wide STOMP bounds."""
    group = parser.add_argument_group(
        "STOMP limits", "bounds of every STOMP connection (TCP, /stomp and comet alike)")
    defaults = SessionLimits()
    for field in dataclasses.fields(SessionLimits):
        default = getattr(defaults, field.name)
        if isinstance(default, tuple):
            kind, metavar = _heart_beat, "SX,SY"
        elif isinstance(default, float):
            kind, metavar = float, "SECONDS"
        elif field.name.endswith(("_size", "_length", "_bytes", "_soft", "_hard")):
            kind, metavar = size, "BYTES"
        else:
            kind, metavar = int, "N"
        what = _HELP.get(field.name, field.name.replace("_", " "))
        shown = _shown(default)
        if field.name == "max_held_bytes":  # follows --max-frame-size unless given
            default, shown = None, f"{_shown(getattr(defaults, field.name))}, or "\
                "--max-frame-size + 64 KiB when larger"
        group.add_argument(_option(field.name), dest=f"stomp_{field.name}", type=kind,
                           default=default, metavar=metavar, help=f"{what} (default {shown})")
    group.add_argument("--memory-budget", type=size, default=DEFAULT_MEMORY_BUDGET,
                       metavar="BYTES",
                       help="bytes all STOMP connections together may hold in unfinished "
                            "frames and unsent output; past it publishers wait and new "
                            f"unfinished frames are refused (default {DEFAULT_MEMORY_BUDGET})")
    group.add_argument("--listen-backlog", type=int, default=DEFAULT_BACKLOG, metavar="N",
                       help="connections waiting to be accepted, on each listening port "
                            f"(default {DEFAULT_BACKLOG}; the kernel caps it at its "
                            "net.core.somaxconn)")
    group.add_argument("--login-failures", type=int, default=10, metavar="N",
                       help="failed logins from one address per --login-window before its "
                            "logins are refused for a while (default 10)")
    group.add_argument("--login-window", type=float, default=60.0, metavar="SECONDS",
                       help="seconds over which --login-failures are allowed (default 60)")


@dataclass(frozen=True)
class StompSettings:
    """What the STOMP options of one command say."""

    limits: SessionLimits
    memory_budget: int
    backlog: int
    login_failures: int
    login_window: float

    def budget(self) -> MemoryBudget:
        """A fresh budget for one server (its hub)."""
        return MemoryBudget(self.memory_budget)

    def throttle(self) -> LoginThrottle:
        """A fresh login throttle for one server."""
        return LoginThrottle(self.login_failures, self.login_window)


def settings_from(args: argparse.Namespace) -> StompSettings:
    """Check the options together; raises ValueError with a message for the command line."""
    values = {f.name: getattr(args, f"stomp_{f.name}") for f in dataclasses.fields(SessionLimits)}
    if values["max_held_bytes"] is None:
        values["max_held_bytes"] = max(SessionLimits().max_held_bytes,
                                       values["max_frame_size"] + (64 << 10))
    for name, value in values.items():
        if isinstance(value, tuple):
            continue
        if not value > 0:
            raise ValueError(f"{_option(name)} must be positive, not {_shown(value)}")
    limits = SessionLimits(**values)

    def below(small: str, large: str) -> None:
        if values[small] > values[large]:
            raise ValueError(f"{_option(small)} ({values[small]}) cannot be larger than "
                             f"{_option(large)} ({values[large]})")

    below("max_frame_size", "max_held_bytes")
    below("outbound_soft", "outbound_hard")
    below("prefetch", "max_prefetch")
    if args.memory_budget < limits.max_frame_size:
        raise ValueError(f"--memory-budget ({args.memory_budget}) cannot be smaller than "
                         f"--max-frame-size ({limits.max_frame_size})")
    for option, value in (("--listen-backlog", args.listen_backlog),
                          ("--login-failures", args.login_failures),
                          ("--login-window", args.login_window)):
        if not value > 0:
            raise ValueError(f"{option} must be positive, not {value}")
    return StompSettings(limits, args.memory_budget, args.listen_backlog,
                         args.login_failures, args.login_window)
