"""The site `serve` builds (`comet_core.web.build_site`, with ``/comet/`` mounted), run in a
subprocess on the real reactor, with what the static-file tests need to see inside it:

- every log event, one JSON line each on stdout (its level, whether it carries a failure,
  its text), so a test can assert that no request left a traceback;
- ``fds`` on stdin: how many files under the site's folder the process holds open;
- ``mark`` on stdin: echoed once every event logged before it is out.

`site_folder` makes a small built site with the kinds of file the tests ask for.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from tests.helpers import ROOT

#: The size of `page.html`: a file a little over one 64 KiB read.
PAGE_SIZE = 77_000
#: The size of `big.bin`: much more than a socket's buffers hold.
BIG_SIZE = 8 << 20
WAIT = 10.0  # seconds: a bound on any one wait, never a measure

SCRIPT = r"""
import json, os, select, sys
from pathlib import Path
from twisted.internet import reactor, stdio
from twisted.logger import formatEvent, globalLogBeginner
from twisted.protocols.basic import LineReceiver
from comet_core.hub import Hub
from comet_core.transports.http.resource import CometResource
from comet_core.web import build_site

site_dir = Path(sys.argv[1])
real = os.path.realpath(site_dir)


def emit(data):
    # stdout is shared with the control protocol, which makes it non-blocking: write it all.
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(1, view):]
        except BlockingIOError:
            select.select([], [1], [])


def observe(event):
    failure = event.get("log_failure")
    text = formatEvent(event)
    if failure is not None:
        text += "\n" + failure.getTraceback()
    line = {"level": event.get("log_level").name if event.get("log_level") else "",
            "failure": failure is not None, "text": text}
    emit(("event " + json.dumps(line) + "\n").encode())


globalLogBeginner.beginLoggingTo([observe], redirectStandardIO=False)


def open_files():
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith(real + os.sep):
            count += 1
    return count


class Control(LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        command = line.strip()
        if command == b"fds":
            self.sendLine(b"fds %d" % open_files())
        elif command == b"mark":
            self.sendLine(b"mark")


site = build_site(site_dir, {b"comet": CometResource(Hub(), reactor=reactor)})
stdio.StandardIO(Control())
port = reactor.listenTCP(0, site, interface="127.0.0.1")
emit(b"port %d\n" % port.getHost().port)
reactor.run()
"""


def site_folder(path: Path) -> Path:
    """A built site: pages, a big file, and what a Sphinx build leaves that is not public."""
    docs = path / "docs"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<h1>Comet, step by step</h1>")
    (docs / "page.html").write_bytes(bytes(i % 251 for i in range(PAGE_SIZE)))
    (docs / "big.bin").write_bytes(os.urandom(1024) * (BIG_SIZE // 1024))
    (docs / "notes.zzz").write_text("<script>alert(1)</script>")
    (docs / "empty").mkdir()  # a folder without an index
    (docs / "__pycache__").mkdir()
    (docs / "__pycache__" / "conf.cpython-311.pyc").write_bytes(b"\0" * 16)
    (docs / ".secret.html").write_text("hidden")
    (path / ".buildinfo").write_text("# Sphinx build info version 1\nconfig: 0123\n")
    (path / ".doctrees").mkdir()
    (path / ".doctrees" / "environment.pickle").write_bytes(b"/home/builder/project")
    return path


class SiteServer:
    """The subprocess; `port`, `fds()`, `events_until_now()`, `stop()`."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.popen = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(site)], cwd=ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.events: list[dict] = []
        self.other: list[bytes] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.port = int(self._reply(b"port ").split()[1])

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if line.startswith(b"event "):
                self.events.append(json.loads(line[6:]))
            elif line.startswith((b"port ", b"fds ", b"mark")):
                self.lines.put(line)
            else:
                self.other.append(line)  # anything else written (a traceback on stderr)
        self.lines.put(b"")

    def _reply(self, prefix: bytes) -> bytes:
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"the server did not answer; output: {self.other!r}") from None
            if not line:
                raise AssertionError(f"the server ended; output: {self.other!r}")
            if line.startswith(prefix):
                return line

    def _ask(self, command: bytes, prefix: bytes) -> bytes:
        assert self.popen.stdin is not None
        self.popen.stdin.write(command + b"\n")
        self.popen.stdin.flush()
        return self._reply(prefix)

    def fds(self) -> int:
        """How many files under the site's folder the server holds open now."""
        return int(self._ask(b"fds", b"fds ").split()[1])

    def fds_once_settled(self) -> int:
        """`fds`, asked until it is 0 or the bound passes (a closed file may take the
        server a turn or two to notice its connection ended)."""
        for _ in range(200):
            count = self.fds()
            if count == 0:
                return 0
        return count

    def events_until_now(self) -> list[dict]:
        """Every event logged so far (all of them: `mark` is answered after them)."""
        self._ask(b"mark", b"mark")
        return list(self.events)

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def tracebacks(events: list[dict]) -> list[str]:
    """The events that carry a failure or are errors: what a clean server never logs."""
    return [e["text"] for e in events
            if e["failure"] or e["level"] in ("error", "critical") or "Traceback" in e["text"]]
