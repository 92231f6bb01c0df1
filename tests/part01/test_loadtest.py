"""Part 1's load script, end to end at a small N against both servers."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "parts" / "part01" / "loadtest.py"

spec = importlib.util.spec_from_file_location("part01_loadtest", SCRIPT)
loadtest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loadtest)


@pytest.mark.parametrize("kind", ["threaded", "twisted"])
def test_holds_n_polls_and_releases_them_all_with_one_publish(kind: str) -> None:
    # 60 clients in three client processes, so that the split over processes is exercised.
    run = loadtest.run_one(kind, 60, per_process=20, release_timeout=30)
    assert run["problems"] == []
    assert run["held"] == 60
    assert run["answered"] == 60
    assert run["publish_reply"] == "200 released 60"
    assert run["kib_per_connection"] is not None
    assert 0 <= run["release_p50_ms"] <= run["release_p99_ms"] <= run["release_max_ms"]
    assert run["server_threads"] >= (61 if kind == "threaded" else 1)
    assert run["server_errors"] == {}


def test_reports_where_a_threaded_server_runs_out_of_threads() -> None:
    # With 1 GiB of address space, 8 MiB thread stacks run out long before 300 threads.
    run = loadtest.run_one("threaded", 300, address_space_mib=1024, release_timeout=3,
                           settle=2)
    assert 0 < run["held"] < 300
    assert any("can't start new thread" in what for what in run["server_errors"])
    assert f"the server held only {run['held']} of 300 requests" in run["problems"]


def test_the_command_writes_data_table_summary_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, str(SCRIPT), "--n", "10,20", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "results.json").read_text())
    assert {"date", "machine", "command", "runs"} <= data.keys()
    assert data["command"].startswith("python parts/part01/loadtest.py --n 10,20")
    assert {"cpu", "cores", "os", "python"} <= data["machine"].keys()
    assert [(r["server"], r["n"], r["answered"]) for r in data["runs"]] == [
        ("threaded", 10, 10), ("twisted", 10, 10), ("threaded", 20, 20), ("twisted", 20, 20)]
    rows = list(csv.reader((out / "table.csv").open()))
    assert rows[0][:3] == ["server", "N", "held"] and len(rows) == 5
    assert "At N = 20" in (out / "summary.md").read_text()
    assert "<svg" in (out / "plot.svg").read_text()
    assert "No run reported a problem" in (out / "problems.md").read_text()

    # Rendering again from the data gives the same files.
    names = ("table.csv", "summary.md", "problems.md", "plot.svg")
    before = {name: (out / name).read_bytes() for name in names}
    for name in before:
        (out / name).unlink()
    subprocess.run([sys.executable, str(SCRIPT), "--render", str(out)], check=True, timeout=120)
    assert {name: (out / name).read_bytes() for name in before} == before


def test_small_pieces() -> None:
    assert loadtest.split(19000, 5000) == [4750] * 4
    assert sum(loadtest.split(10001, 5000)) == 10001
    assert loadtest.split(3, 5000) == [3]
    values = sorted(float(v) for v in range(1, 101))
    assert loadtest.percentile(values, 0.5) == 50 and loadtest.percentile(values, 0.99) == 99
    assert loadtest.summarise_errors([
        "error serving ('127.0.0.1', 1): RuntimeError: can't start new thread",
        "error serving ('127.0.0.1', 2): RuntimeError: can't start new thread",
        "Traceback (most recent call last):", "  File 'x', line 1", "MemoryError",
    ]) == {"RuntimeError: can't start new thread": 2, "MemoryError": 1}
