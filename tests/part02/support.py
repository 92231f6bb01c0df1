"""What the Part 2 and Part 3 tests share: a broker on a free port, and running part scripts."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import Process

ROOT = Path(__file__).resolve().parents[2]
PARTS = ROOT / "parts"
LISTENING = re.compile(rb"listening on (\d+\.\d+\.\d+\.\d+):(\d+)")
TIMEOUT = 60.0  # seconds: the bound on any script run; none should come near it


@contextmanager
def broker(*args: str) -> Iterator[tuple[Process, int]]:
    """`python -m comet_core broker --port 0 ARGS`; yields the process and its port."""
    process = Process(["broker", "--host", "127.0.0.1", "--port", "0", *args])
    try:
        port = int(process.wait_for(LISTENING).group(2))
        yield process, port
        assert process.popen.poll() is None, b"".join(process.output)[-3000:]
    finally:
        process.stop()


def run(script: Path, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run a part's script to its end, as a reader would."""
    return subprocess.run([sys.executable, str(script), *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


class Script:
    """A part's script running in the background, its output lines collected as they come."""

    def __init__(self, script: Path, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.popen = subprocess.Popen(
            [sys.executable, str(script), *args], cwd=ROOT, env=env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put("")  # end of output

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"timed out; output so far: {self.output!r}") from None
            if not line:
                raise AssertionError(f"the script ended; its output: {self.output!r}")
            if m := re.search(pattern, line):
                return m

    def finish(self, timeout: float = 30) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
