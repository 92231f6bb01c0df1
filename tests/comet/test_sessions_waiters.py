"""Waiters: what carries a session's bytes down, one at a time, whatever its kind."""

from __future__ import annotations

from comet_core.comet import REPLACED, CometLimits, SessionStore, State
from tests.comet.support import Conn, RecordingApp


def new(limits: CometLimits | None = None) -> RecordingApp:
    return RecordingApp(SessionStore(limits).open(now=0.0))


def test_a_held_long_poll_is_answered_by_the_next_write() -> None:
    app = new()
    session = app.session
    poll = Conn("poll")
    session.attach(poll, 0, now=1.0)
    assert poll.pieces == [] and session.waiter is poll
    app.produce(b"news")
    assert [(p.offset, p.data) for p in poll.pieces] == [(0, b"news")]
    assert session.waiter is None  # answered: the next write waits for the next request
    app.produce(b"more")
    assert len(poll.pieces) == 1
    assert session.unacked == 8


def test_a_stream_carries_every_write_until_it_recycles() -> None:
    app = new()
    session = app.session
    stream = Conn("stream", recycle=10)
    session.attach(stream, 0, now=1.0)
    for word in (b"one,", b"two,", b"three,", b"four,"):
        app.produce(word)
    assert [(p.offset, p.data) for p in stream.pieces] == [
        (0, b"one,"), (4, b"two,"), (8, b"three,")]  # 14 bytes: past 10, it is done
    assert session.waiter is None
    fresh = Conn("stream", recycle=10)
    session.attach(fresh, 14, now=2.0)  # the client had all 14
    assert [(p.offset, p.data) for p in fresh.pieces] == [(14, b"four,")]


def test_a_new_request_replaces_the_held_one() -> None:
    app = new()
    session = app.session
    old = Conn("poll")
    session.attach(old, 0, now=1.0)
    new_one = Conn("sse")
    session.attach(new_one, 0, now=2.0)
    assert old.finished == REPLACED and new_one.finished is None
    app.produce(b"x")
    assert old.pieces == [] and new_one.data == b"x"


def test_switching_transports_resends_what_the_old_one_may_have_lost() -> None:
    """A stream delivered "ab" and "cd" but the client only read "ab" before the stream
    broke; a long-poll that follows, saying it holds 2 bytes, gets "cd" again."""
    app = new()
    session = app.session
    stream = Conn("stream")
    session.attach(stream, 0, now=1.0)
    app.produce(b"ab")
    app.produce(b"cd")
    session.detach(stream, now=2.0)  # the connection broke
    poll = Conn("poll")
    session.attach(poll, 2, now=3.0)
    assert [(p.offset, p.data) for p in poll.pieces] == [(2, b"cd")]
    sse = Conn("sse")
    session.attach(sse, 4, now=4.0)  # and on to SSE, with Last-Event-ID 4
    app.produce(b"ef")
    assert [(p.offset, p.data) for p in sse.pieces] == [(4, b"ef")]


def test_detach_of_a_replaced_waiter_is_ignored() -> None:
    app = new()
    session = app.session
    old, current = Conn("stream"), Conn("stream")
    session.attach(old, 0, now=1.0)
    session.attach(current, 0, now=2.0)
    session.detach(old, now=3.0)  # the old stream's connection closes late
    assert session.waiter is current


def test_a_stream_gets_keep_alives_while_nothing_happens() -> None:
    store = SessionStore(CometLimits(max_hold=4))
    app = RecordingApp(store.open(now=0.0))
    stream = Conn("sse", keepalive=2.0)
    app.session.attach(stream, 0, now=0.0)
    for now in (3.9, 4.0, 5.9, 6.0, 7.9, 8.0):
        if (deadline := store.next_deadline()) is not None and deadline <= now:
            store.tick(now)
    assert stream.idles == 3  # at 4 (the hold), then every 2 s, as the stream asked
    assert app.session.waiter is stream


def test_closing_sends_the_last_bytes_and_the_reason() -> None:
    app = new()
    session = app.session
    stream = Conn("stream")
    session.attach(stream, 0, now=1.0)
    app.produce(b"data")
    session.close("ERROR slow consumer", now=2.0, last=b"ERROR\n\n\0")
    assert [(p.offset, p.data, p.closed) for p in stream.pieces] == [
        (0, b"data", None), (4, b"ERROR\n\n\0", "ERROR slow consumer")]
    assert session.waiter is None and session.state is State.CLOSING
    assert app.closed == ["ERROR slow consumer"]


def test_a_lost_last_answer_is_sent_again_then_the_session_goes() -> None:
    app = new()
    store = app.session._store
    session = app.session
    session.close("bye", now=1.0, last=b"end")
    lost = Conn("poll")
    session.attach(lost, 0, now=2.0)  # the answer is lost
    again = Conn("poll")
    session.attach(again, 0, now=3.0)
    assert [(p.offset, p.data, p.closed) for p in again.pieces] == [(0, b"end", "bye")]
    assert session.state is State.CLOSING
    final = Conn("poll")
    session.attach(final, 3, now=4.0)  # the client holds every byte
    assert [(p.offset, p.data, p.closed) for p in final.pieces] == [(3, b"", "bye")]
    assert session.state is State.CLOSED and store is not None and len(store) == 0
    assert app.closed == ["bye"]  # told once


def test_terminating_finishes_the_held_waiter_with_the_reason() -> None:
    app = new()
    session = app.session
    stream = Conn("stream")
    session.attach(stream, 0, now=1.0)
    session.terminate("the client closed the session")
    assert stream.finished == "the client closed the session"
    assert app.closed == ["the client closed the session"]
    assert session.app is None  # no cycle left between session and app


def test_a_poll_with_a_zero_hold_is_answered_at_the_next_tick() -> None:
    store = SessionStore()
    app = RecordingApp(store.open(now=0.0))
    poll = Conn("poll")
    app.session.attach(poll, 0, now=5.0, hold=0)
    assert store.next_deadline() == 5.0
    store.tick(5.0)
    assert poll.answered_empty and app.session.waiter is None
