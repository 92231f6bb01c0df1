"""Part 6's workshop exercise (receipts as promises, run in Chromium): the solution passes
the check, the untouched starter and near misses fail it with a useful message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.part02.support import PARTS
from tests.part06.support import check_cli, check_problems, need_browser

FOLDER = PARTS / "part06" / "exercise"
SOLUTION = FOLDER / "solution.js"
STARTER = FOLDER / "starter.js"


@pytest.fixture(autouse=True)
def _browser() -> None:
    need_browser()


def test_the_solution_passes_through_the_command_line() -> None:
    done = check_cli(6, SOLUTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASS: part 6 exercise")


def test_the_untouched_starter_fails_and_says_why() -> None:
    done = check_cli(6, STARTER)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "expect(): gave the ids" in done.stdout


def variant(tmp_path: Path, old: str, new: str) -> Path:
    source = SOLUTION.read_text()
    assert old in source
    path = tmp_path / "attempt.js"
    path.write_text(source.replace(old, new))
    return path


@pytest.mark.parametrize(("old", "new", "complaint"), [
    # Forgets the waiting promises when the connection closes: a page that hangs.
    ("    for (const waiter of this.#waiting.values()) waiter.reject(error);\n", "",
     "the end of the session: the session ended, and the promise of a receipt still waiting "
     "is pending"),
    # Treats an ERROR like a RECEIPT: the page would think a refused frame went through.
    ('    if (frame.command === "RECEIPT") waiter.resolve(frame);',
     '    if (frame.command === "RECEIPT" || frame.command === "ERROR") waiter.resolve(frame);',
     "an ERROR naming a receipt"),
    # One id for everything: every RECEIPT settles whichever promise came last.
    ("const id = `r-${++this.#counter}`;", 'const id = "r";', "they must differ"),
])
def test_near_misses_fail_with_a_useful_message(tmp_path: Path, old: str, new: str,
                                                complaint: str) -> None:
    problems = check_problems(6, variant(tmp_path, old, new))
    assert any(complaint in p for p in problems), problems


def test_a_file_that_is_not_a_module_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.js"
    path.write_text("export class Receipts {\n")
    problems = check_problems(6, path)
    assert any("could not be loaded as a module" in p for p in problems), problems
