"""A session's start: CONNECT, version negotiation, logins, and frames out of place."""

from __future__ import annotations

import pytest

from comet_core.stomp.session import TRANSITIONS, SessionLimits, State
from tests.stomp.session_support import Client, connected


@pytest.mark.parametrize(("offered", "agreed"), [
    ("1.0,1.1,1.2", "1.2"),
    ("1.2,1.0", "1.2"),
    ("1.1", "1.1"),
    ("1.0,1.1,2.0", "1.1"),
    ("1.0", "1.0"),
])
def test_the_highest_common_version_wins(hub, clock, offered, agreed):
    client = Client(hub, clock)
    frame = client.connect(offered)
    assert frame.get("version") == agreed
    assert client.session.version == agreed
    assert frame.get("session") and frame.get("server", "").startswith("comet_core/")


def test_a_connect_without_accept_version_is_stomp_1_0(hub, clock):
    client = Client(hub, clock)
    client.raw(b"CONNECT\nlogin:guest\npasscode:guest\n\n\0")
    frame = client.expect("CONNECTED")
    assert frame.get("version") == "1.0"
    assert frame.get("heart-beat") is None  # 1.0 has no heart-beats


def test_no_common_version_is_an_error_naming_the_supported_ones(hub, clock):
    client = Client(hub, clock)
    client.raw(b"CONNECT\naccept-version:2.0,3.1\nhost:x\n\n\0")
    error = client.error()
    assert error.get("version") == "1.0,1.1,1.2"
    assert "1.0 1.1 1.2" in error.body.decode()
    assert client.session.close_reason == "ERROR unsupported protocol version"


def test_the_stomp_frame_connects_too(hub, clock):
    client = Client(hub, clock)
    client.raw(b"STOMP\naccept-version:1.2\nhost:example.org\n\n\0")
    assert client.expect("CONNECTED").get("version") == "1.2"


@pytest.mark.parametrize("host", [b"host:localhost\n", b"host:some.other.name\n", b""])
def test_any_host_is_accepted(hub, clock, host):
    client = Client(hub, clock)
    client.raw(b"CONNECT\naccept-version:1.2\n" + host + b"\n\0")
    client.expect("CONNECTED")


def test_frames_behind_connect_in_the_same_read_use_the_agreed_escapes(hub, clock):
    listener = connected(hub, clock)
    listener.subscribe("/topic/t")
    client = Client(hub, clock)
    client.raw(b"CONNECT\naccept-version:1.2\n\n\0"
               b"SEND\ndestination:/topic/t\nnote:a\\cb\n\nx\0")
    client.expect("CONNECTED")
    [message] = listener.messages()
    assert message.get("note") == "a:b"


def test_a_frame_before_connect_is_an_error_with_its_receipt(hub, clock):
    client = Client(hub, clock)
    client.raw(b"SEND\ndestination:/topic/a\nreceipt:r9\n\nhi\0")
    error = client.error()
    assert error.get("message") == "not connected"
    assert error.get("receipt-id") == "r9"
    assert error.get("content-type") == "text/plain"
    assert b"CONNECT" in error.body


def test_an_unknown_command_is_an_error(hub, clock):
    client = connected(hub, clock)
    client.raw(b"PUBLISH\ndestination:/topic/a\n\n\0")
    assert client.error().get("message") == "unknown command"


def test_connect_twice_is_an_error(hub, clock):
    client = connected(hub, clock)
    client.raw(b"CONNECT\naccept-version:1.2\n\n\0")
    assert client.error().get("message") == "already connected"


def test_garbage_is_an_error_and_nothing_after_it_is_read(hub, clock):
    client = connected(hub, clock)
    client.raw(b"SEND\ndestination:/topic/a\nno colon here\n\n\0")
    error = client.error()
    assert error.get("message") == "bad header line"
    client.raw(b"SUBSCRIBE\nid:1\ndestination:/topic/a\nreceipt:x\n\n\0")
    assert client.read() == []


def test_the_frame_bounds_are_the_sessions_limits(hub, clock):
    client = Client(hub, clock, limits=SessionLimits(max_frame_size=1000))
    client.connect()
    client.publish("/topic/a", b"x" * 2000)
    assert "max_frame_size" in client.error().get("message")


def test_frames_ahead_of_a_parse_error_are_still_handled(hub, clock):
    listener = connected(hub, clock)
    listener.subscribe("/topic/a")
    client = connected(hub, clock)
    client.raw(b"SEND\ndestination:/topic/a\n\nfirst\0GARBAGE LINE\n\n\0")
    assert [m.body for m in listener.messages()] == [b"first"]
    assert client.error().get("message") == "bad command"


def test_a_client_that_never_connects_is_closed(hub, clock):
    client = Client(hub, clock, limits=SessionLimits(connect_timeout=30))
    assert client.session.next_deadline() == clock.now + 30
    clock.advance(29)
    client.session.tick()
    assert not client.session.closed
    clock.advance(1)
    client.session.tick()
    assert client.error().get("message") == "connect timeout"


# --- the login check -------------------------------------------------------------------


def test_a_deferred_login_exposes_the_credentials_and_holds_frames(hub, clock):
    listener = connected(hub, clock)
    listener.subscribe("/queue/q")
    client = Client(hub, clock, defer_login=True)
    client.raw(b"CONNECT\naccept-version:1.2\nhost:h\nlogin:ann\npasscode:s3cret\n\n\0"
               b"SEND\ndestination:/queue/q\n\none\0")
    client.raw(b"SEND\ndestination:/queue/q\n\ntwo\0")
    session = client.session
    assert session.state is State.LOGGING_IN and session.reading_paused
    request = session.login_request
    assert (request.login, request.passcode, request.host) == ("ann", "s3cret", "h")
    assert client.read() == [] and listener.messages() == []
    session.accept_login("ann")
    connected_frame = client.expect("CONNECTED")
    assert connected_frame.get("user-name") == "ann"
    assert session.user == "ann" and session.login_request is None
    assert [m.body for m in listener.messages()] == [b"one", b"two"]


def test_a_refused_login_is_an_error_and_the_held_frames_are_dropped(hub, clock):
    listener = connected(hub, clock)
    listener.subscribe("/queue/q")
    client = Client(hub, clock, defer_login=True)
    client.raw(b"CONNECT\naccept-version:1.2\nlogin:ann\npasscode:wrong\n\n\0"
               b"SEND\ndestination:/queue/q\n\nsneaky\0")
    client.session.refuse_login("login refused", "The login and passcode were not accepted.")
    assert client.error().get("message") == "login refused"
    assert listener.messages() == []
    assert not hub.queues["/queue/q"].messages


def test_what_arrives_during_a_login_check_is_bounded(hub, clock):
    client = Client(hub, clock, defer_login=True,
                    limits=SessionLimits(max_held_bytes=1000))
    client.raw(b"CONNECT\naccept-version:1.2\n\n\0")
    client.raw(b"SEND\ndestination:/topic/a\n\n" + b"x" * 900 + b"\0")
    client.raw(b"SEND\ndestination:/topic/a\n\n" + b"x" * 900 + b"\0")
    assert client.error().get("message") == "too much data ahead"


def test_a_login_check_that_never_ends_times_out(hub, clock):
    client = Client(hub, clock, defer_login=True, limits=SessionLimits(connect_timeout=5))
    client.raw(b"CONNECT\naccept-version:1.2\n\n\0")
    clock.advance(5)
    client.session.tick()
    error = client.error()
    assert error.get("message") == "connect timeout"
    assert b"login check" in error.body


def test_accepting_a_login_nobody_asked_for_is_a_bug_of_the_caller(hub, clock):
    client = Client(hub, clock)
    with pytest.raises(RuntimeError):
        client.session.accept_login("x")


# --- the state table -------------------------------------------------------------------


def test_the_table_is_what_the_session_follows():
    assert set(TRANSITIONS) == set(State)
    connected_row = TRANSITIONS[State.CONNECTED]
    for command in ("SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT",
                    "ABORT"):
        assert connected_row[command] is State.CONNECTED
    assert connected_row["DISCONNECT"] is State.CLOSED
    assert TRANSITIONS[State.AWAITING_CONNECT]["CONNECT"] is State.LOGGING_IN
    assert TRANSITIONS[State.LOGGING_IN]["login accepted"] is State.CONNECTED
    assert TRANSITIONS[State.CLOSED] == {}
    for state, row in TRANSITIONS.items():
        if state is not State.CLOSED:
            assert row["error"] is State.CLOSED and row["connection lost"] is State.CLOSED


def test_an_unexpected_failure_is_an_error_frame_without_a_traceback(hub, clock, monkeypatch):
    client = connected(hub, clock)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(hub, "publish", broken)
    client.publish("/topic/a", b"x", receipt="r1")
    error = client.error()
    assert error.get("message") == "internal error"
    assert error.get("receipt-id") == "r1"
    assert b"Traceback" not in error.body and b"ZeroDivision" not in error.body
    assert isinstance(client.session.failure, ZeroDivisionError)
