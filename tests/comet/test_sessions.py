"""The session store: ids, lookup, the bound on sessions, closing, and expiry on a fake clock."""

from __future__ import annotations

import math

import pytest

from comet_core.comet import (
    CometLimits,
    CometSession,
    SessionClosed,
    SessionStore,
    State,
    TooManySessions,
    UnknownSession,
    is_session_id,
    new_session_id,
)
from comet_core.comet.ids import ID_BYTES, ID_LENGTH
from tests.comet.support import Conn, RecordingApp

# --- ids ------------------------------------------------------------------------------


def test_ids_are_url_safe_and_long_enough() -> None:
    assert ID_BYTES * 8 >= 128
    ids = {new_session_id() for _ in range(2000)}
    assert len(ids) == 2000
    for sid in ids:
        assert len(sid) == ID_LENGTH
        assert is_session_id(sid)
        assert set(sid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789-_")


def test_ids_spread_over_the_whole_alphabet() -> None:
    """A crude check that ids are random, not a counter or a timestamp: across many ids,
    every position takes many values."""
    ids = [new_session_id() for _ in range(400)]
    for position in range(ID_LENGTH - 1):  # the last character carries fewer random bits
        assert len({sid[position] for sid in ids}) > 40


@pytest.mark.parametrize("text", ["", "short", "a" * (ID_LENGTH + 1), "a" * (ID_LENGTH - 1) + "/",
                                  "a" * (ID_LENGTH - 1) + "=", "ä" * ID_LENGTH])
def test_malformed_ids_are_rejected(text: str) -> None:
    assert not is_session_id(text)


# --- opening, lookup, closing --------------------------------------------------------


def test_open_get_close() -> None:
    store = SessionStore()
    session = store.open(now=0.0)
    assert store.get(session.session_id) is session
    assert session.session_id in store and len(store) == 1
    app = RecordingApp(session)
    store.close(session.session_id)
    assert session.state is State.CLOSED
    assert app.closed == ["the client closed the session"]
    assert len(store) == 0
    with pytest.raises(UnknownSession) as info:
        store.get(session.session_id)
    assert info.value.status_hint == 404
    with pytest.raises(SessionClosed):
        session.attach(Conn(), 0, now=1.0)


def test_unknown_and_ended_sessions_get_the_same_answer() -> None:
    store = SessionStore()
    session = store.open(now=0.0)
    store.close(session.session_id)
    with pytest.raises(UnknownSession) as ended:
        store.get(session.session_id)
    with pytest.raises(UnknownSession) as never:
        store.get(new_session_id())
    assert str(ended.value) == str(never.value)


def test_the_number_of_sessions_is_bounded() -> None:
    store = SessionStore(CometLimits(max_sessions=3))
    sessions = [store.open(now=0.0) for _ in range(3)]
    with pytest.raises(TooManySessions) as info:
        store.open(now=0.0)
    assert info.value.status_hint == 503
    assert "3 sessions" in str(info.value)
    assert len(store) == 3
    sessions[0].terminate("done")
    assert store.open(now=1.0).state is State.OPEN


def test_a_closing_session_counts_until_it_is_gone() -> None:
    store = SessionStore(CometLimits(max_sessions=1))
    session = store.open(now=0.0)
    RecordingApp(session)
    session.close("bye", now=0.0, last=b"last words")
    with pytest.raises(TooManySessions):
        store.open(now=0.0)
    conn = Conn()
    session.attach(conn, 0, now=1.0)  # gets the rest; still not acknowledged
    assert session.state is State.CLOSING
    session.attach(Conn(), len(b"last words"), now=2.0)  # acknowledges all: gone
    assert len(store) == 0
    store.open(now=2.0)


# --- expiry and the clock ------------------------------------------------------------


def run(store: SessionStore, until: float) -> list[float]:
    """Call `tick` at each deadline up to `until`, as the transport's one timer does;
    returns the times it ran."""
    times = []
    while (deadline := store.next_deadline()) is not None and deadline <= until:
        store.tick(deadline)
        times.append(deadline)
        assert len(times) < 10_000
    return times


def test_a_session_with_no_request_expires_after_the_idle_timeout() -> None:
    store = SessionStore()
    assert CometLimits().idle_timeout == 60.0
    session = store.open(now=100.0)
    app = RecordingApp(session)
    assert store.next_deadline() == 160.0
    store.tick(159.9)
    assert session.state is State.OPEN
    store.tick(160.0)
    assert session.state is State.CLOSED
    assert app.closed == ["expired: no request for 60 seconds"]
    assert len(store) == 0 and store.next_deadline() is None


def test_each_request_pushes_expiry_back() -> None:
    store = SessionStore(CometLimits(idle_timeout=10))
    session = store.open(now=0.0)
    RecordingApp(session)
    for now in (5.0, 12.0, 19.0):
        session.receive(0, b"", now)  # an upload (even an empty one) is a request
        run(store, now)
    assert session.state is State.OPEN
    run(store, 28.9)
    assert session.state is State.OPEN
    run(store, 29.0)
    assert session.state is State.CLOSED


def test_a_held_request_is_not_idle() -> None:
    store = SessionStore(CometLimits(idle_timeout=10, max_hold=4))
    session = store.open(now=0.0)
    RecordingApp(session)
    stream = Conn("sse", keepalive=3.0)
    session.attach(stream, 0, now=1.0)
    times = run(store, 1000.0 - 0.5)
    assert session.state is State.OPEN
    assert stream.idles == len(times) > 300  # a keep-alive every 3 s for 1000 s
    session.detach(stream, now=1000.0)  # the connection was lost
    run(store, 1009.9)
    assert session.state is State.OPEN
    run(store, 1010.0)
    assert session.state is State.CLOSED


def test_expiry_counts_from_the_answer_of_a_long_poll() -> None:
    """A long-poll answered by data at t leaves the client idle_timeout from t to return."""
    clock = [0.0]
    store = SessionStore(CometLimits(idle_timeout=10, max_hold=8))
    session = store.open(now=0.0)
    app = RecordingApp(session, clock)
    poll = Conn("poll")
    session.attach(poll, 0, now=1.0)
    clock[0] = 7.0
    app.produce(b"news")
    assert poll.data == b"news" and session.waiter is None
    run(store, 16.9)
    assert session.state is State.OPEN
    run(store, 17.0)
    assert session.state is State.CLOSED


def test_a_held_long_poll_is_answered_empty_after_its_hold() -> None:
    store = SessionStore(CometLimits(idle_timeout=10, max_hold=8))
    session = store.open(now=0.0)
    RecordingApp(session)
    poll = Conn("poll")
    session.attach(poll, 0, now=1.0, hold=30.0)  # asks more than the bound: gets 8
    assert run(store, 8.9) == []
    assert run(store, 9.0) == [9.0]
    assert poll.answered_empty and poll.pieces == [] and session.waiter is None
    run(store, 18.9)
    assert session.state is State.OPEN  # idle from 9.0, the answer
    run(store, 19.0)
    assert session.state is State.CLOSED


def test_a_shorter_hold_can_be_asked_for() -> None:
    store = SessionStore(CometLimits(max_hold=30))
    session = store.open(now=0.0)
    RecordingApp(session)
    poll = Conn("poll")
    session.attach(poll, 0, now=0.0, hold=2.5)
    assert store.next_deadline() == 2.5


def test_a_closing_session_expires_if_its_client_never_returns() -> None:
    store = SessionStore(CometLimits(idle_timeout=10))
    session = store.open(now=0.0)
    RecordingApp(session)
    session.close("bye", now=5.0, last=b"x")
    run(store, 14.9)
    assert session.state is State.CLOSING
    run(store, 15.0)
    assert session.state is State.CLOSED and len(store) == 0


def test_the_store_runs_the_apps_timers() -> None:
    store = SessionStore()
    session = store.open(now=0.0)
    app = RecordingApp(session)
    app.deadline = 7.5
    session.reschedule()  # the app says its deadline came sooner
    assert store.next_deadline() == 7.5
    store.tick(7.5)
    assert app.ticks == [7.5]
    assert store.next_deadline() == 60.0


def test_many_sessions_expire_in_deadline_order() -> None:
    store = SessionStore(CometLimits(idle_timeout=10))
    sessions = [store.open(now=float(i)) for i in range(20)]
    ended: list[CometSession] = []
    for s in sessions:
        RecordingApp(s).session_closed = lambda reason, s=s: ended.append(s)  # type: ignore
    for s in sessions[1::2]:  # every other one is seen again later
        s.receive(0, b"", now=25.0)
    run(store, 34.9)
    assert ended == sessions[::2]
    assert all(s.state is State.CLOSED for s in sessions[::2])
    assert all(s.state is State.OPEN for s in sessions[1::2])
    assert run(store, 35.0) == [35.0]
    assert len(store) == 0


def test_ticking_before_any_deadline_does_nothing() -> None:
    store = SessionStore()
    session = store.open(now=0.0)
    RecordingApp(session)
    store.tick(1.0)
    assert session.state is State.OPEN
    assert math.isclose(store.next_deadline() or 0, 60.0)


def test_a_standalone_session_works_without_a_store() -> None:
    """As in a notebook: one session, driven by hand."""
    session = CometSession("by-hand", now=0.0)
    app = RecordingApp(session)
    app.produce(b"hello")
    poll = Conn()
    session.attach(poll, 0, now=1.0)
    assert poll.pieces[0].data == b"hello"
    assert session.next_deadline() == 61.0  # answered at 1.0: idle from then
    session.tick(61.0)
    assert session.state is State.CLOSED
