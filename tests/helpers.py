"""Shared test helpers: start a comet_core command as a subprocess and wait for its address."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ADDRESS = re.compile(rb"(?:https?://)?(\d+\.\d+\.\d+\.\d+):(\d+)")


def _ctrl_c_as_usual() -> None:
    """In the child: SIGINT as in a terminal, even when the tests were started in the
    background (which ignores it, and a process inherits that), so Ctrl-C tests test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Process:
    """A running command whose output lines are collected as they come."""

    def __init__(self, args: list[str], cwd: Path = ROOT) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "comet_core", *args], cwd=cwd, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_ctrl_c_as_usual)
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.output: list[bytes] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.popen.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(b"")  # end of output

    def wait_for(self, pattern: re.Pattern[bytes], timeout: float = 30) -> re.Match[bytes]:
        """Block until a line matches `pattern`; fail with the output seen if it never does."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                seen = b"".join(self.output)
                raise AssertionError(f"timed out; output so far: {seen!r}") from None
            if not line:
                raise AssertionError(f"process ended; output: {b''.join(self.output)!r}")
            if m := pattern.search(line):
                return m

    def address(self, timeout: float = 30) -> tuple[str, int]:
        m = self.wait_for(ADDRESS, timeout)
        return m.group(1).decode(), int(m.group(2))

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()
        try:
            return self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()


@contextmanager
def running(args: list[str], cwd: Path = ROOT):
    process = Process(args, cwd)
    try:
        yield process
    finally:
        process.stop()


def missing(reason: str) -> None:
    """Skip, or fail when the browser tests are required (COMET_REQUIRE_BROWSER=1, as in CI)."""
    if os.environ.get("COMET_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (COMET_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def need_browser() -> None:
    """Skip without Chromium or Python's playwright, unless the browser tests are required."""
    if not CHROMIUM.exists():
        missing(f"no Chromium at {CHROMIUM} (apt install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("Python's playwright is not installed (pip install -e '.[dev]')")


def check_cli(part: int, path: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`python -m comet_core check PART --file PATH`, as a student runs it."""
    return subprocess.run([sys.executable, "-m", "comet_core", "check", str(part), "--file",
                           str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def attempt(tmp_path: Path, source: str, old: str, new: str) -> Path:
    """A student's attempt: `source` (a solution's text) with `old` replaced by `new`."""
    assert old in source
    path = tmp_path / "attempt.py"
    path.write_text(source.replace(old, new))
    return path


def code_of(path: Path) -> str:
    """A Python file's code without its module docstring, to compare two files' code."""
    import ast

    tree = ast.parse(path.read_text())
    del tree.body[0]
    return ast.dump(tree)
