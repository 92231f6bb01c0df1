"""Part 4's scripts do what the page says: the naive server loses messages, the comet session
and the real transport do not, and the Python client talks STOMP through `serve`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from comet_core.comet import CometLimits
from tests.part02.support import PARTS, ROOT, Script, run
from tests.part04.support import serve

PART = PARTS / "part04"
PAGE = (ROOT / "docs" / "part04.md").read_text()
sys.path.insert(0, str(PART))  # client.py is imported by the tests below
import client as comet_client  # noqa: E402


def test_the_naive_server_loses_the_two_messages_the_page_says() -> None:
    done = run(PART / "lost_message.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (PART / "lost_message.out.txt").read_text(), (
        "parts/part04/lost_message.out.txt no longer matches; if intended, rewrite it with: "
        "python parts/part04/lost_message.py > parts/part04/lost_message.out.txt")
    assert "received:  one, two, four, six\n" in done.stdout
    assert "lost:      three, five\n" in done.stdout
    assert "publish 'three' before the client polls again: released 0" in done.stdout
    assert "publish 'five': released 1" in done.stdout  # counted as delivered, and lost


def test_the_naive_server_answers_an_idle_poll_empty_at_its_hold_time() -> None:
    done = run(PART / "lost_message.py")
    assert "   answered '' after about 1 s\n" in done.stdout


def test_by_hand_prints_what_the_page_shows(tmp_path: Path) -> None:
    fresh = tmp_path / "by_hand.out.txt"
    done = run(PART / "by_hand.py", "--write", str(fresh))
    assert done.returncode == 0, done.stderr
    assert fresh.read_text() == (PART / "by_hand.out.txt").read_text(), (
        "parts/part04/by_hand.out.txt no longer matches; if intended, rewrite it with: "
        "python parts/part04/by_hand.py --write parts/part04/by_hand.out.txt")
    out = fresh.read_text()
    assert "poll 2 answered: offset 3, b'two'" in out  # written between polls, kept
    assert out.count("answered: offset 6, b'three'") == 2  # lost, then resent
    assert out.count("the client holds b'onetwothree'") == 1
    assert out.count("the app got b'hello'") == 1  # the retried upload applied once
    assert "the app got b' world'" in out
    assert "expired: no request for 60 seconds" in out
    assert out.endswith("sessions left in the store: 0\n")


def test_the_defaults_the_page_states_are_the_code_s() -> None:
    limits = CometLimits()
    assert limits.max_hold == 30.0 and "wait: 30 s, nothing published" in PAGE
    assert "(24-character id)" in PAGE


def test_the_client_receives_what_a_tcp_client_publishes(tmp_path: Path) -> None:
    with serve(tmp_path) as (url, stomp_port):
        listener = Script(PART / "client.py", "--url", url, "/topic/news", "--count", "2")
        try:
            listener.wait_for(r"^subscribed to /topic/news$")
            for text in ("hi from tcp", "and again"):
                done = run(PARTS / "part02" / "publish.py", "/topic/news", text,
                           "--port", str(stomp_port))
                assert done.returncode == 0, done.stderr
            assert listener.finish() == 0, listener.output
        finally:
            listener.stop()
    out = "".join(listener.output)
    assert "MESSAGE on /topic/news: hi from tcp\nMESSAGE on /topic/news: and again\n" in out
    for line in ("opened a comet session (24-character id)", "CONNECTED, STOMP 1.2",
                 "subscribed to /topic/news", "MESSAGE on /topic/news: hi from tcp"):
        assert line in PAGE, line  # the page's console example is what the client prints


def test_the_client_receives_its_own_send(tmp_path: Path) -> None:
    with serve(tmp_path) as (url, _):
        done = run(PART / "client.py", "--url", url, "/topic/echo", "--send", "über")
    assert done.returncode == 0, done.stderr
    assert "MESSAGE on /topic/echo: über\n" in done.stdout
    assert done.stdout.endswith("\n") and "disconnected; received" in done.stdout


def test_a_lost_poll_answer_is_resent_and_a_retried_upload_applied_once(
        tmp_path: Path) -> None:
    """Against the real transport: the client forgets answers and repeats uploads."""
    with serve(tmp_path) as (url, _):
        comet = comet_client.CometClient(url)
        comet.open()
        stomp = comet_client.StompClient(comet)
        connect = b"CONNECT\naccept-version:1.2\nhost:comet\nheart-beat:0,0\n\n\x00"
        comet.send(connect)
        stomp.expect("CONNECTED")
        held = comet.held
        sub = b"SUBSCRIBE\nid:0\ndestination:/topic/t\nreceipt:r\n\n\x00"
        comet.send(sub)
        first = comet.poll()  # the RECEIPT; now pretend this answer was lost:
        assert first.startswith(b"RECEIPT")
        comet.held = held
        assert comet.poll() == first  # the same bytes again, at the same offsets
        # An upload whose answer was lost, sent again at its offset: applied once.
        frame = b"SEND\ndestination:/topic/t\n\nonce\x00"
        start = comet.applied
        comet.send(frame)
        answer = comet._request("POST", f"{comet.session_id}/send?offset={start}", frame)
        assert int(answer) == start + len(frame)
        stomp.frames.clear()
        stomp.parser.feed(first)
        message = stomp.expect("MESSAGE")
        assert message.body == b"once"
        assert comet.poll(hold=0) == b""  # no second copy of the message
        comet.close()


@pytest.mark.parametrize("split", [1, 2, 7])
def test_the_record_reader_cuts_any_split(split: int) -> None:
    body = b"d 0 3\nabc\n\nd 3 2\n\nx\ne recycled\nc bye\n"
    reader = comet_client.RecordReader()
    records = []
    for n in range(0, len(body), split):
        records += reader.feed(body[n:n + split])
    assert [(r.kind, r.offset, r.data, r.reason) for r in records] == [
        ("d", 0, b"abc", ""), ("d", 3, b"\nx", ""), ("e", 0, b"", "recycled"),
        ("c", 0, b"", "bye")]
