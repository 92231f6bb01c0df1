"""Run a browser exercise for real: the student's JavaScript in Chromium, against `serve`.

The checks of Parts 6 and 7 share this. `run(student, checker)` copies the student's file
and a checker module into a fresh folder, starts `python -m comet_core serve` on a free
port with that folder as its site (so the page, `/static/` and `/comet/` share one origin,
as on a real site), opens the checker's page in Chromium, and waits for the checker to put
its findings in `window.report`. Chromium comes from Debian (`/usr/bin/chromium`) and is
driven by Playwright. A check must report, never crash: every failure becomes a problem.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BROWSERS = [Path("/usr/bin/chromium"), Path("/usr/bin/chromium-browser")]
SERVING = re.compile(r"Serving the site at http://([\d.]+):(\d+)/")
TIMEOUT = 60.0  # seconds for the whole run: serve, the browser and the checker

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>exercise check</title></head>
<body>
  <ol id="log"></ol>
  <script type="module">
    import { check } from "./checker.js";
    check().then((report) => { window.report = report; },
                 (error) => { window.report = { error: String(error), results: [] }; });
  </script>
</body>
</html>
"""


@dataclass
class Outcome:
    """What the checker found, and what happened around it."""

    report: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # the run itself went wrong
    dialogs: list[str] = field(default_factory=list)  # alert(), confirm()... the page showed
    errors: list[str] = field(default_factory=list)  # uncaught errors in the page


def chromium() -> Path | None:
    for path in BROWSERS:
        if path.exists():
            return path
    return None


def run(student: Path, checker: Path) -> Outcome:
    """Run `checker` (a JS module exporting `async check()`) with the student's file."""
    outcome = Outcome()
    browser_path = chromium()
    if browser_path is None:
        outcome.problems.append("this check runs your code in Chromium, and there is none at "
                                "/usr/bin/chromium: install it (apt install chromium) and run "
                                "the check again.")
        return outcome
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        outcome.problems.append("this check drives Chromium with Playwright, which is not "
                                "installed: pip install -e '.[dev]'.")
        return outcome
    with tempfile.TemporaryDirectory(prefix="comet-check-") as tmp:
        site = Path(tmp)
        (site / "docs").mkdir()  # serve wants a built site: a front page will do
        (site / "docs" / "index.html").write_text("<h1>exercise check</h1>")
        folder = site / "exercise"
        folder.mkdir()
        (folder / "index.html").write_text(PAGE)
        shutil.copyfile(student, folder / "student.js")
        shutil.copyfile(checker, folder / "checker.js")
        server = _Serve(site)
        try:
            base = server.base(outcome)
            if base is None:
                return outcome
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(browser_path),
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                try:
                    page = browser.new_page()
                    page.on("dialog", lambda d: (outcome.dialogs.append(d.message), d.dismiss()))
                    page.on("pageerror", lambda error: outcome.errors.append(str(error)))
                    page.goto(f"{base}/exercise/index.html")
                    page.wait_for_function("window.report !== undefined",
                                           timeout=TIMEOUT * 1000)
                    outcome.report = page.evaluate("window.report")
                except PlaywrightError as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else "?"
                    outcome.problems.append(f"the browser run did not finish: {first}")
                finally:
                    browser.close()
        finally:
            server.stop()
    return outcome


class _Serve:
    """`python -m comet_core serve` on free ports, its output read line by line."""

    def __init__(self, site: Path) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "comet_core", "serve", "--host", "127.0.0.1", "--port", "0",
             "--stomp-port", "0", "--docs", str(site)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.popen.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put("")

    def base(self, outcome: Outcome) -> str | None:
        """The server's address, once it says it serves; None (and a problem) if it fails."""
        while True:
            try:
                line = self.lines.get(timeout=30)
            except queue.Empty:
                line = ""
            if m := SERVING.search(line):
                return f"http://{m[1]}:{m[2]}"
            if not line:
                tail = " | ".join(x.strip() for x in self.output[-5:])
                outcome.problems.append(f"the server did not start: {tail or 'no output'}")
                return None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def problems_of(outcome: Outcome) -> list[str]:
    """The problems of a run: its own, the checker's findings, dialogs and page errors."""
    problems = list(outcome.problems)
    report = outcome.report or {}
    if report.get("error"):
        problems.append(str(report["error"]))
    for result in report.get("results", []):
        if result.get("problem"):
            problems.append(f"{result['what']}: {result['problem']}")
    for message in outcome.dialogs:
        problems.append(f"the page showed a dialog ({message!r}): some input ran as code.")
    for error in outcome.errors:
        problems.append(f"an uncaught error in the page: {error}")
    return problems
