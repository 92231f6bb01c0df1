"""`bench stomp`: a smoke run at tiny message counts against our broker, and its report.

The figures themselves are not asserted (tests never assert timings); what is asserted is
that every scenario completes, every message is counted once, an absent broker is skipped
with its reason, and a run that went wrong is reported as such instead of as a figure.
"""

from __future__ import annotations

import json
import subprocess
import sys

from comet_core.bench.about import command_line
from comet_core.bench.stomp import Scenario, figures, markdown, ratios
from tests.helpers import ROOT


def test_smoke_run_against_our_broker(tmp_path):
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, "-m", "comet_core", "bench", "stomp", "--brokers", "comet,rabbitmq",
         "--rabbitmq", "127.0.0.1:1", "--messages", "300", "--subscribers", "1,3",
         "--pace", "25", "--stall", "10", "--timeout", "30",
         "--json", str(out_json), "--markdown", str(out_md)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipping rabbitmq: nothing answers on 127.0.0.1:1" in proc.stdout

    report = json.loads(out_json.read_text())
    rows = report["results"]
    assert [(r["scenario"]) for r in rows] == [
        "topic-1-paced25", "topic-1-pipelined", "topic-3-paced25", "topic-3-pipelined",
        "queue-1-paced25", "queue-1-pipelined"]
    for r in rows:
        assert r["status"] == "ok", r
        assert r["sent"] == 300
        assert r["delivered"] == r["expected"] == 300 * r["subscribers"]
        assert r["rate"] > 0 and r["p50_ms"] <= r["p99_ms"]
    assert report["skipped"] == {"rabbitmq": "nothing answers on 127.0.0.1:1 "
                                             "(is rabbitmq_stomp enabled?)"}
    assert report["machine"]["cores"] >= 1
    assert str(tmp_path) not in out_json.read_text()  # no machine paths in the record
    assert report["command"].startswith("python -m comet_core bench stomp --brokers")

    table = out_md.read_text()
    assert "| topic 1→3, pipelined | comet |" in table
    assert "Not measured: rabbitmq" in table

    # The table can be made again from the JSON alone (how the docs' copy is refreshed).
    again = tmp_path / "again.md"
    subprocess.run([sys.executable, "-m", "comet_core", "bench", "stomp", "--from-json",
                    str(out_json), "--markdown", str(again)], cwd=ROOT, check=True,
                   capture_output=True, timeout=60)
    assert again.read_text() == table


def _sub(counts, done=True, errors=(), stalled=False):
    return {"counts": list(counts), "first_ns": [10**9] * len(counts),
            "last_ns": [3 * 10**9] * len(counts), "done": [done] * len(counts),
            "errors": list(errors), "latencies": b"", "cpu": 0.1, "wall": 2.0,
            "stalled": stalled, "timed_out": False}


PUB = {"sent": 100, "first_ns": 10**9, "last_ns": 2 * 10**9, "cpu": 0.1, "wall": 1.0,
       "error": None}


def test_a_complete_run_gives_a_rate():
    row = figures(Scenario("topic", 2, 0), PUB, [_sub([100, 100])])
    assert row["status"] == "ok"
    assert row["rate"] == 100.0 and row["rate_per_subscriber"] == 50.0


def test_a_broken_run_is_reported_not_rated():
    sc = Scenario("topic", 2, 0)
    row = figures(sc, {**PUB, "error": "connection failed: [Errno 32] Broken pipe"},
                  [_sub([40, 100], done=False, stalled=True,
                        errors=["connection closed by the broker after 40"])])
    assert "rate" not in row and row["partial_rate"] > 0
    assert row["status"].startswith("140 of 200 delivered; stalled; publisher: connection")


def test_ratios_compare_ours_with_each_other_broker():
    rows = [{"broker": "comet", "scenario": "s", "name": "s", "rate": 300.0},
            {"broker": "rabbitmq", "scenario": "s", "name": "s", "rate": 100.0},
            {"broker": "coilmq", "scenario": "s", "name": "s", "status": "stalled"}]
    assert ratios(rows) == [{"scenario": "s", "name": "s", "versus": "rabbitmq", "ratio": 3.0}]


def test_the_recorded_command_has_no_machine_paths():
    line = command_line("stomp", ["--json", "/home/someone/out.json", "--brokers", "comet"])
    assert line == "python -m comet_core bench stomp --json out.json --brokers comet"


def test_markdown_names_what_was_not_measured():
    report = {"date": "2026-01-01T00:00:00+00:00", "command": "python -m comet_core bench stomp",
              "machine": {"cpu": "CPU", "cores": 2, "python": "3.11", "system": "Linux"},
              "results": [], "ratios": [], "skipped": {"coilmq": "not installed"}}
    assert "Not measured: coilmq: not installed." in markdown(report)
