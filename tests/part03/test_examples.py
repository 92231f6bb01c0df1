"""Part 3's scripts: their output on the page is what they print today, against a real broker."""

from __future__ import annotations

import re
from pathlib import Path

from comet_core.stomp.session import TRANSITIONS, SessionLimits, State
from tests.part02.support import PARTS, ROOT, Script, broker, run

PART = PARTS / "part03"
PAGE = (ROOT / "docs" / "part03.md").read_text()
VERSION = re.compile(r"comet_core/[\w.+-]+")  # the server header: changes with each release


def regenerate_hint(name: str, command: str) -> str:
    return (f"parts/part03/{name} no longer matches what the script prints; if the change is "
            f"intended, rewrite it with: {command}")


def test_inside_prints_what_the_page_shows(tmp_path: Path) -> None:
    fresh = tmp_path / "inside.out.txt"
    done = run(PART / "inside.py", "--write", str(fresh))
    assert done.returncode == 0, done.stderr
    checked_in = (PART / "inside.out.txt").read_text()
    assert VERSION.sub("comet_core/V", fresh.read_text()) == VERSION.sub(
        "comet_core/V", checked_in), regenerate_hint(
        "inside.out.txt", "python parts/part03/inside.py --write parts/part03/inside.out.txt")


def test_inside_shows_each_rule_the_page_claims() -> None:
    out = (PART / "inside.out.txt").read_text()
    assert "byte 50 of 50 completed" in out  # nothing comes out before the last byte
    assert "gave 3 frames" in out
    assert "1.0 'two\\nlines': cannot be written" in out
    assert "1.2 'ends in CR\\r': written b'note:ends in CR\\\\r'" in out
    assert "undefined escape" in out
    assert "body=b'ab\\x00cd'" in out
    assert "TooManyHeaders: too many headers (max_headers is 2)" in out
    assert "FrameTooLarge before the frame even ended" in out
    assert "the server beats every 2000 ms, the client every 5000 ms" in out
    beats = re.findall(r"^t=(\d+): b'\\n'$", out, re.MULTILINE)
    assert beats == ["2", "4", "6", "8", "10", "12", "14"]
    assert "t=15: b'ERROR\\nmessage:heart-beat timeout" in out  # 10 s after the client's beat


def test_the_work_queue_story_is_the_same_on_every_run() -> None:
    with broker() as (_, port):
        done = run(PART / "work_queue.py", "--port", str(port))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (PART / "work_queue.out.txt").read_text(), regenerate_hint(
        "work_queue.out.txt",
        "python parts/part03/work_queue.py --port PORT > parts/part03/work_queue.out.txt")
    assert "ann got job-2 (redelivered)" in done.stdout  # bob's job, after bob left


def test_transactions_hold_their_frames_until_commit() -> None:
    with broker() as (_, port):
        done = run(PART / "transactions.py", "--port", str(port))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (PART / "transactions.out.txt").read_text(), regenerate_hint(
        "transactions.out.txt",
        "python parts/part03/transactions.py --port PORT > parts/part03/transactions.out.txt")
    received = [line.removeprefix("the watcher received: ") for line in done.stdout.splitlines()]
    assert received == ["not in a transaction", "order-3", "order-4", "closing time"]


def test_the_password_broker_lets_in_only_its_users() -> None:
    server = Script(PART / "password_broker.py", "--port", "0")
    try:
        port = server.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1)
        publish = PARTS / "part02" / "publish.py"
        good = run(publish, "/topic/news", "hi", "--port", port,
                   "--login", "alice", "--passcode", "wonderland")
        wrong = run(publish, "/topic/news", "hi", "--port", port,
                    "--login", "alice", "--passcode", "guess")
        anonymous = run(publish, "/topic/news", "hi", "--port", port)
    finally:
        server.stop()
    assert good.returncode == 0, good.stderr
    assert wrong.returncode == 1
    assert wrong.stderr == "error: login refused: The login and passcode were not accepted.\n"
    assert anonymous.returncode == 1
    # The page shows these two answers in its console example.
    for line in (good.stdout, anonymous.stderr):
        assert line.strip() in PAGE


def test_the_page_draws_the_table_the_session_runs_on() -> None:
    assert "```{state-diagram} comet_core.stomp.session:TRANSITIONS" in PAGE
    assert list(TRANSITIONS) == list(State)
    for state in State:  # the page describes each state the diagram shows
        assert f"`{state.name}`\n: " in PAGE, state.name


def test_the_defaults_the_page_states_are_the_code_s() -> None:
    limits = SessionLimits()
    assert limits.prefetch == 100 and "(100 by default;" in PAGE
    assert limits.heart_beat == (1000, 1000) and "offers 1 second both ways by default" in PAGE
    assert limits.heart_beat_grace == 2.0 and "for twice its interval" in PAGE
