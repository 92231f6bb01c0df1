"""Failed logins are slowed down per client address, on every transport of a server.

Without it one client could try thousands of passwords a second. The throttle is a leaky
bucket per address (sans-IO, tested with a fake clock); `check_login` consults it before
the checker; and the real broker refuses the attempts past the bound with an ERROR that
says how long to wait, even for the right password.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.cred.checkers import ICredentialsChecker
from twisted.python.failure import Failure

from comet_core.stomp.frames import FrameParser
from comet_core.throttle import LoginThrottle
from comet_core.transports import auth
from comet_core.transports.auth import check_login, password_checker
from tests.helpers import Process
from tests.stomp.session_support import Clock


def test_an_address_gets_its_failures_then_waits() -> None:
    clock = Clock()
    throttle = LoginThrottle(failures=10, window=60.0, clock=clock)
    for _ in range(10):
        assert throttle.wait("10.0.0.1") == 0.0
        throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == pytest.approx(6.0)  # 10 a minute: one per 6 s
    assert throttle.wait("10.0.0.2") == 0.0  # others are not slowed down
    clock.advance(6.0)
    assert throttle.wait("10.0.0.1") == 0.0
    throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == pytest.approx(6.0)
    clock.advance(60.0)  # a full window forgives everything
    for _ in range(10):
        assert throttle.wait("10.0.0.1") == 0.0
        throttle.failed("10.0.0.1")


def test_the_table_of_addresses_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(failures=3, window=60.0, max_addresses=100, clock=clock)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
        assert throttle.addresses <= 100
    for _ in range(3):
        throttle.failed("10.9.9.9")
    assert throttle.wait("10.9.9.9") > 0  # the newest are kept


class Counting:
    """A password checker that counts how often it is asked."""

    def __init__(self) -> None:
        self.checker: ICredentialsChecker = password_checker({"alice": "secret"})
        self.credentialInterfaces = self.checker.credentialInterfaces
        self.asked = 0

    def requestAvatarId(self, credentials):  # noqa: N802
        self.asked += 1
        return self.checker.requestAvatarId(credentials)


def outcome(d) -> object:
    results: list[object] = []
    d.addBoth(results.append)
    assert results, "the check did not finish at once"
    return results[0]


def test_check_login_refuses_a_throttled_address_without_asking_the_checker() -> None:
    clock = Clock()
    inner = Counting()
    checker = auth.throttled(inner, LoginThrottle(failures=3, window=60.0, clock=clock))
    for _ in range(3):
        assert isinstance(outcome(check_login(checker, "alice", "guess", "10.0.0.1")), Failure)
    refused = outcome(check_login(checker, "alice", "secret", "10.0.0.1"))
    assert isinstance(refused, Failure) and refused.check(auth.TooManyFailures)
    assert inner.asked == 3
    message, detail = auth.refusal(refused)
    assert message == "too many failed logins, wait 20 s" and "20 seconds" in detail
    # Another address, and the same one once it waited, log in as usual.
    assert outcome(check_login(checker, "alice", "secret", "10.0.0.2")) == "alice"
    clock.advance(20.0)
    assert outcome(check_login(checker, "alice", "secret", "10.0.0.1")) == "alice"


# --- the real broker ----------------------------------------------------------------------

LISTENING = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[str, int]]:
    users = tmp_path / "users"
    users.write_text("alice:secret\n")
    process = Process(["broker", "--port", "0", "--quiet", "--users", str(users)])
    try:
        m = process.wait_for(LISTENING)
        yield m.group(1).decode(), int(m.group(2))
    finally:
        process.stop()


def login(address: tuple[str, int], passcode: str) -> tuple[str, str | None]:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\nlogin:alice\npasscode:"
                     + passcode.encode() + b"\n\n\0")
        parser, frames = FrameParser(), []
        while not frames:
            data = sock.recv(65536)
            assert data, "closed without an answer"
            frames += parser.feed(data)
        return frames[0].command, frames[0].get("message")


def test_the_broker_slows_down_a_password_guesser(guarded):
    for _ in range(10):  # the default: 10 failures a minute
        assert login(guarded, "guess") == ("ERROR", "login refused")
    command, message = login(guarded, "secret")
    assert command == "ERROR"
    assert message is not None and re.fullmatch(r"too many failed logins, wait \d+ s", message)


def test_serve_slows_down_a_password_guesser_over_comet_too(tmp_path: Path) -> None:
    from tests.transports.http.support import CometClient, frame, make_site, serve

    site = make_site(tmp_path / "site")
    users = tmp_path / "users"
    users.write_text("alice:secret\n")

    def comet_login(port: int, passcode: str) -> bytes:
        client = CometClient(port)
        client.upload(frame("CONNECT", accept_version="1.2", host="h", login="alice",
                            passcode=passcode))
        frames = client.frames_until(lambda frames: frames)
        return frames[0]

    with serve(site, "--users", str(users)) as (port, _, _):
        for _ in range(10):
            assert comet_login(port, "guess").startswith(b"ERROR\n")
        answer = comet_login(port, "secret")
        assert answer.startswith(b"ERROR\n")
        assert re.search(rb"message:too many failed logins, wait \d+ s", answer)
