"""Both byte streams of a session: numbering, acknowledgement, resending, the bounds."""

from __future__ import annotations

import pytest

from comet_core.comet import (
    BadNumber,
    BufferFull,
    CometLimits,
    SessionClosed,
    SessionStore,
    UploadGap,
    UploadTooLarge,
)
from comet_core.comet.streams import Downstream, Upstream
from tests.comet.support import Conn, RecordingApp


def new(limits: CometLimits | None = None) -> tuple[SessionStore, RecordingApp]:
    store = SessionStore(limits)
    return store, RecordingApp(store.open(now=0.0))


# --- downstream -------------------------------------------------------------------------


def test_bytes_are_numbered_by_offset_and_kept_until_acknowledged() -> None:
    down = Downstream()
    assert down.append(b"hello ") == 0
    assert down.append(b"world") == 6
    assert down.since(0) == (0, b"hello world")
    assert down.since(6) == (6, b"world")
    assert down.acknowledge(6) == 6
    assert (down.acked, down.end, down.unacked) == (6, 11, 5)
    assert down.since(3) == (6, b"world")  # an old count: resend from what is kept
    assert down.acknowledge(3) == 0        # an old ack frees nothing, and is no error
    assert down.since(11) == (11, b"")


@pytest.mark.parametrize("ack", [-1, 12])
def test_an_ack_of_bytes_never_sent_is_refused(ack: int) -> None:
    down = Downstream()
    down.append(b"hello world")
    with pytest.raises(BadNumber) as info:
        down.acknowledge(ack)
    assert info.value.status_hint == 400
    assert "between 0 and 11" in str(info.value)
    assert down.since(0) == (0, b"hello world")


def test_a_new_request_gets_everything_not_acknowledged() -> None:
    _, app = new()
    session = app.session
    app.produce(b"one,")
    first = Conn("poll")
    session.attach(first, 0, now=1.0)
    assert [(p.offset, p.data) for p in first.pieces] == [(0, b"one,")]
    app.produce(b"two,")  # no request is held: kept
    lost = Conn("poll")   # this answer is lost on its way: the client never acks it
    session.attach(lost, 4, now=2.0)
    assert [(p.offset, p.data) for p in lost.pieces] == [(4, b"two,")]
    retry = Conn("poll")
    session.attach(retry, 4, now=3.0)
    assert [(p.offset, p.data) for p in retry.pieces] == [(4, b"two,")]
    assert session.pending(4) == (4, b"two,")
    session.acknowledge(8)
    assert session.pending(4) == (8, b"")
    assert session.unacked == 0


def test_the_unacknowledged_bytes_are_bounded_and_the_producer_resumes() -> None:
    _, app = new(CometLimits(max_unacked=100))
    session = app.session
    app.produce(bytes(250))  # written in pieces of 97 while writable
    assert not session.writable
    assert session.unacked == 194 and len(app.backlog) == 56  # 97 + 97: one past the bound
    with pytest.raises(BufferFull):
        session.write(b"more", now=0.0)
    assert session.unacked == 194  # refused, not dropped and not grown
    session.attach(Conn("poll"), 97, now=1.0)  # 97 acknowledged: 97 kept, room again
    assert app.resumed == 1
    assert session.written == 250 and not app.backlog
    assert not session.writable  # the 56 written on resuming filled it again
    session.acknowledge(250)
    assert session.writable and session.unacked == 0
    assert app.resumed == 2
    session.acknowledge(250)
    assert app.resumed == 2  # only a change from full to not full is announced


def test_the_last_bytes_of_a_closing_session_pass_the_bound() -> None:
    _, app = new(CometLimits(max_unacked=10))
    session = app.session
    app.produce(b"0123456789abc")
    assert not session.writable
    session.close("over", now=1.0, last=b"ERROR: why")
    conn = Conn("poll")
    session.attach(conn, 0, now=2.0)
    assert conn.pieces[0].data == b"0123456789abc" + b"ERROR: why"
    assert conn.pieces[0].closed == "over"


def test_writes_after_the_session_closed_are_refused() -> None:
    _, app = new()
    app.session.close("over", now=1.0)
    with pytest.raises(SessionClosed) as info:
        app.session.write(b"late", now=2.0)
    assert "over" in str(info.value)


# --- upstream ---------------------------------------------------------------------------


def test_each_upload_is_applied_once_and_in_order() -> None:
    _, app = new()
    session = app.session
    assert session.receive(0, b"SEND", now=1.0) == 4
    assert session.receive(0, b"SEND", now=2.0) == 4  # a retry whose answer was lost
    assert session.receive(0, b"SEND\n", now=3.0) == 5  # the retry merged with new bytes
    assert session.receive(2, b"ND\nx", now=4.0) == 6
    assert session.receive(6, b"", now=5.0) == 6
    assert bytes(app.received) == b"SEND\nx"


def test_an_upload_past_a_gap_is_refused() -> None:
    _, app = new()
    session = app.session
    session.receive(0, b"abc", now=1.0)
    with pytest.raises(UploadGap) as info:
        session.receive(5, b"fg", now=2.0)
    assert info.value.status_hint == 409
    assert "resend from 3" in str(info.value)
    assert bytes(app.received) == b"abc" and session.applied == 3


def test_an_upload_is_bounded() -> None:
    _, app = new(CometLimits(max_upload=8))
    session = app.session
    assert session.receive(0, b"12345678", now=1.0) == 8
    with pytest.raises(UploadTooLarge) as info:
        session.receive(8, b"123456789", now=2.0)
    assert info.value.status_hint == 413
    assert session.applied == 8 and len(app.received) == 8


def test_a_negative_offset_is_refused() -> None:
    up = Upstream()
    with pytest.raises(BadNumber):
        up.accept(-1, b"x")
    assert up.applied == 0


def test_uploads_to_a_closing_session_are_refused_with_the_reason() -> None:
    _, app = new()
    app.session.close("the client sent DISCONNECT", now=1.0)
    with pytest.raises(SessionClosed) as info:
        app.session.receive(0, b"x", now=2.0)
    assert info.value.status_hint == 410
    assert "the client sent DISCONNECT" in str(info.value)
    assert not app.received
