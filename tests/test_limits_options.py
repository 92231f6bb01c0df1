"""The STOMP bounds: defaults that let real messages through, and an option for each one.

`broker` and `serve` take the same options (one helper adds them to both), check them
together, and hand them to every carrier of STOMP: TCP, /stomp and the comet sessions.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from typing import TYPE_CHECKING

import pytest

from comet_core.cli import build_parser
from comet_core.hub import Hub
from comet_core.stomp.frames import FrameParser
from comet_core.stomp.session import SessionLimits
from tests.helpers import running
from tests.stomp.session_support import Client, Clock, connected

if TYPE_CHECKING:
    from comet_core.stomp_options import StompSettings

BROKER = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")
SERVING = re.compile(rb"Serving the site at http://(\d+\.\d+\.\d+\.\d+):(\d+)/")
MIB = 1 << 20

OPTIONS = ["--max-frame-size", "--max-headers", "--max-header-length", "--max-held-bytes",
           "--connect-timeout", "--flow-timeout", "--outbound-soft", "--outbound-hard",
           "--heart-beat", "--memory-budget", "--listen-backlog", "--login-failures",
           "--login-window"]


def options_of(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {o for action in sub.choices[command]._actions for o in action.option_strings}


@pytest.mark.parametrize("command", ["broker", "serve"])
def test_every_stomp_bound_is_an_option_of_broker_and_serve(command: str) -> None:
    assert set(OPTIONS) <= options_of(command)


def test_broker_and_serve_take_the_same_stomp_options() -> None:
    stomp = {o for o in options_of("broker") if o not in ("--host", "--port", "--users",
                                                         "--quiet", "-h", "--help")}
    assert stomp <= options_of("serve")


def settings(*argv: str) -> StompSettings:
    from comet_core.stomp_options import settings_from  # here: the rest runs without it

    return settings_from(build_parser().parse_args(["broker", *argv]))


def test_the_held_bound_follows_a_larger_frame_bound() -> None:
    assert settings("--max-frame-size", "4m").limits.max_held_bytes == 4 * MIB + 64 * 1024
    assert settings().limits == SessionLimits()


def test_options_build_the_limits() -> None:
    chosen = settings("--max-frame-size", "2m", "--max-held-bytes", "3m", "--max-headers", "50",
                      "--connect-timeout", "3", "--heart-beat", "0,0", "--memory-budget", "64m")
    assert chosen.limits.max_frame_size == 2 * MIB and chosen.limits.max_headers == 50
    assert chosen.limits.connect_timeout == 3.0 and chosen.limits.heart_beat == (0, 0)
    assert chosen.budget().limit == 64 * MIB


@pytest.mark.parametrize(("argv", "says"), [
    (["--outbound-soft", "8m", "--outbound-hard", "1m"], "--outbound-soft"),
    (["--max-frame-size", "0"], "--max-frame-size must be positive"),
    (["--max-frame-size", "4m", "--max-held-bytes", "1m"], "--max-held-bytes"),
    (["--memory-budget", "100k"], "--memory-budget"),
    (["--connect-timeout", "-1"], "--connect-timeout must be positive"),
])
def test_contradictory_or_empty_bounds_are_clear_errors(argv: list[str], says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        settings(*argv)


def test_the_broker_command_reports_a_bad_bound_and_exits_2() -> None:
    with running(["broker", "--port", "0", "--outbound-soft", "8m", "--outbound-hard",
                  "1m"]) as broker:
        assert broker.popen.wait(timeout=30) == 2
        assert b"error: --outbound-soft" in b"".join(broker.output)


# --- the defaults ------------------------------------------------------------------------


def test_the_defaults_let_a_1_mib_body_and_hundreds_of_headers_through() -> None:
    hub, clock = Hub(), Clock()
    reader, sender = connected(hub, clock), connected(hub, clock)
    reader.subscribe("/topic/big")
    headers = {f"x-{i}": str(i) for i in range(300)}
    sender.publish("/topic/big", b"b" * MIB, receipt="r", **headers)
    assert sender.expect("RECEIPT").get("receipt-id") == "r"
    (message,) = reader.messages()
    assert len(message.body) == MIB and message.get("x-299") == "299"


def test_a_client_that_sends_no_connect_is_dropped_after_10_seconds() -> None:
    clock = Clock()
    client = Client(Hub(), clock)
    clock.advance(10.0)
    client.session.tick()
    assert client.error().get("message") == "connect timeout"
    assert SessionLimits().connect_timeout == 10.0


# --- real processes ----------------------------------------------------------------------


def backlog_of(port: int) -> int:
    """The accept queue's size of a listening socket (`ss` shows it as Send-Q)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[2])


def somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


needs_ss = pytest.mark.skipif(shutil.which("ss") is None or not
                              __import__("os").path.exists("/proc/sys/net/core/somaxconn"),
                              reason="needs Linux's ss to read a listen backlog")


@needs_ss
def test_the_broker_listens_with_a_backlog_for_thousands_of_clients() -> None:
    with running(["broker", "--port", "0", "--quiet"]) as broker:
        port = int(broker.wait_for(BROKER).group(2))
        assert backlog_of(port) == min(4096, somaxconn())
        assert backlog_of(port) > 50


@pytest.fixture
def site(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("<h1>Comet</h1>")
    (tmp_path / "_static").mkdir()
    return tmp_path


STOMP = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")


def exchange(port: int, data: bytes) -> list:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        parser, frames = FrameParser(), []
        try:
            while chunk := sock.recv(65536):
                frames += parser.feed(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return frames


@needs_ss
def test_serve_applies_the_stomp_options_and_the_backlog(site) -> None:
    argv = ["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site),
            "--max-frame-size", "4k", "--listen-backlog", "300"]
    with running(argv) as server:
        http_port = int(server.wait_for(SERVING).group(2))
        stomp_port = int(server.wait_for(STOMP).group(2))
        assert backlog_of(http_port) == backlog_of(stomp_port) == min(300, somaxconn())
        frames = exchange(stomp_port, b"CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:"
                          b"/topic/t\n\n" + b"x" * 5000 + b"\0")
        assert [f.command for f in frames] == ["CONNECTED", "ERROR"]
        assert "max_frame_size is 4096" in (frames[1].get("message") or "")



def test_the_option_defaults_are_the_servers_own() -> None:
    from comet_core import stomp_options
    from comet_core.budget import DEFAULT_MEMORY_BUDGET
    from comet_core.transports.tcp import DEFAULT_BACKLOG

    chosen = settings()
    assert stomp_options.DEFAULT_BACKLOG == DEFAULT_BACKLOG == chosen.backlog
    assert chosen.memory_budget == DEFAULT_MEMORY_BUDGET
    assert (chosen.login_failures, chosen.login_window) == (10, 60.0)
