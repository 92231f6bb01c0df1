"""Part 5's measurement runs against a live `serve` and writes the table the page includes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.part02.support import PARTS, ROOT, run
from tests.part04.support import serve

PART = PARTS / "part05"
PAGE = (ROOT / "docs" / "part05.md").read_text()
ROW = re.compile(r"^\| (poll|stream|sse) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| (\d+) \|$",
                 re.MULTILINE)


def rows(table: str) -> dict[str, tuple[float, float, int, int]]:
    return {m[1]: (float(m[2]), float(m[3]), int(m[4]), int(m[5])) for m in ROW.finditer(table)}


def test_wire_cost_counts_each_transport_at_small_n(tmp_path: Path) -> None:
    out = tmp_path / "wire-cost.md"
    with serve(tmp_path) as (url, stomp_port):
        done = run(PART / "wire_cost.py", "--url", url, "--stomp-port", str(stomp_port),
                   "--messages", "5", "--write", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == done.stdout
    assert out.with_suffix(".json").is_file()
    found = rows(done.stdout)
    assert set(found) == {"poll", "stream", "sse"}
    poll, stream, sse = found["poll"], found["stream"], found["sse"]
    assert poll[1] == 1.0 and poll[2] == 60  # a long-poll is one request per message
    assert stream[1] == sse[1] == 0.2  # one request for the five messages
    assert poll[3] == 2 and stream[3] == sse[3] == 0  # idle: re-polls every 30 s hold
    assert stream[0] < poll[0] and sse[0] < poll[0]  # a head per message costs bytes


def test_the_page_includes_the_checked_in_results() -> None:
    assert "```{include} ../parts/part05/results/wire-cost.md" in PAGE
    table = (PART / "results" / "wire-cost.md").read_text()
    assert set(rows(table)) == {"poll", "stream", "sse"}
    assert table.startswith("100 messages of 64 bytes each")
