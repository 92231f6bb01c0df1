"""What the tests of Parts 6 and 7 share: Chromium (or a clean skip), and the exercise CLI."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import check_cli, need_browser  # noqa: F401 (re-exported)


def check_problems(part: int, path: Path) -> list[str]:
    """What the check says of `path`, run as a student runs it (in its own process: a
    process holds only one sync Playwright, and the test run already has one)."""
    done = check_cli(part, path)
    problems: list[str] = []
    for line in done.stdout.splitlines()[1:]:  # after the PASS / NOT YET line
        if line.startswith("  - "):
            problems.append(line[4:])
        elif problems:
            problems[-1] += "\n" + line
    return problems or [done.stdout + done.stderr]
