"""Part 2's scripts run against a real broker and do what the page says they do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.part02.support import PARTS, ROOT, Script, broker, run

PART = PARTS / "part02"
PAGE = (ROOT / "docs" / "part02.md").read_text()
# Values that are random on every run: the session id and the message ids.
RANDOM = re.compile(r"(session|message-id):([^\\\n']+)")


def masked(text: str) -> str:
    return RANDOM.sub(lambda m: f"{m.group(1)}:<random>", text)


def test_the_transcripts_on_the_page_are_what_the_broker_answers_today(tmp_path: Path) -> None:
    with broker() as (_, port):
        done = run(PART / "conversation.py", "--port", str(port), "--write", str(tmp_path))
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (PART / "transcript").iterdir())
    assert names == ["chat.bytes.txt", "chat.txt", "typo.bytes.txt", "typo.txt"]
    for name in names:
        checked_in = (PART / "transcript" / name).read_text()
        fresh = (tmp_path / name).read_text()
        assert "<random>" in masked(fresh)  # the mask hides something: the ids
        assert masked(fresh) == masked(checked_in), (
            f"parts/part02/transcript/{name} no longer matches the broker; if the change is "
            "intended, rewrite it with: python parts/part02/conversation.py --port PORT "
            "--write parts/part02/transcript")


def test_every_frame_of_the_transcript_is_explained_on_the_page() -> None:
    for conversation in ("chat", "typo"):
        text = (PART / "transcript" / f"{conversation}.txt").read_text()
        for marker in re.findall(r"^== .+ ==$", text, re.MULTILINE):
            if marker != "== end ==" and conversation == "chat":
                assert f'"{marker}"' in PAGE, marker
    assert "message:unknown destination" in (PART / "transcript" / "typo.txt").read_text()


def test_the_conversation_fails_loudly_when_no_broker_answers() -> None:
    with broker() as (_, port):
        pass  # now nothing listens on that port
    done = run(PART / "conversation.py", "--port", str(port))
    assert done.returncode == 1
    assert "error: conversation 'chat'" in done.stderr


def test_the_page_quotes_the_line_the_broker_prints() -> None:
    with broker() as (process, port):
        line = next(out.decode() for out in process.output if b"listening on" in out)
    quoted = line.strip().replace(f":{port} ", ":61613 ")
    assert f"`{quoted}`" in PAGE


def test_stomper_builds_every_frame_of_the_conversation() -> None:
    with broker() as (_, port):
        done = run(PART / "with_stomper.py", "--port", str(port))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["CONNECTED", "RECEIPT", "MESSAGE", "RECEIPT"]
    assert "version:1.1" in lines[0]  # stomper offers 1.1 only, as the page says
    assert "receipt-id:sub-0" in lines[1]
    assert "destination:/topic/chat" in lines[2]
    assert lines[2].endswith("body=b'Hello from stomper!'")
    assert "content-length:19" in lines[2]  # the broker adds it
    assert lines[3] == "<- RECEIPT receipt-id:bye"


def test_listen_prints_what_publish_sends() -> None:
    with broker() as (_, port):
        listener = Script(PART / "listen.py", "/topic/news", "--count", "2",
                          "--port", str(port))
        try:
            listener.wait_for(r"^listening to /topic/news$")
            for text in ("The kettle is on", "Tea is ready"):
                done = run(PART / "publish.py", "/topic/news", text, "--port", str(port))
                assert done.returncode == 0, done.stderr
                assert done.stdout == "published to /topic/news\n"
            assert listener.finish() == 0
        finally:
            listener.stop()
    assert listener.output == ["listening to /topic/news\n", "/topic/news: The kettle is on\n",
                               "/topic/news: Tea is ready\n"]
    for line in ("published to /topic/news", "listening to /topic/news",
                 "/topic/news: The kettle is on"):
        assert line in PAGE


def test_a_queue_keeps_what_is_published_before_anyone_listens() -> None:
    with broker() as (_, port):
        for n in (1, 2):
            done = run(PART / "publish.py", "/queue/jobs", f"job {n}", "--port", str(port))
            assert done.returncode == 0, done.stderr
        done = run(PART / "listen.py", "/queue/jobs", "--count", "2", "--port", str(port))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["/queue/jobs: job 1", "/queue/jobs: job 2"]


@pytest.mark.parametrize("destination, error", [
    ("news", "unknown destination"),
    ("/topic/", "empty destination name"),
])
def test_publish_reports_what_the_broker_refused(destination: str, error: str) -> None:
    with broker() as (_, port):
        done = run(PART / "publish.py", destination, "hello", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {error}: ")
    assert "published" not in done.stdout


def test_publish_logs_in_when_the_broker_requires_it(tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("alice:wonderland\n")
    with broker("--users", str(users)) as (_, port):
        good = run(PART / "publish.py", "/topic/news", "hi", "--port", str(port),
                   "--login", "alice", "--passcode", "wonderland")
        bad = run(PART / "publish.py", "/topic/news", "hi", "--port", str(port),
                  "--login", "alice", "--passcode", "guess")
    assert good.returncode == 0, good.stderr
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: login refused")
