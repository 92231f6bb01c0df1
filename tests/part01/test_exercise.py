"""Part 1's workshop exercise: the solution passes its check, the starter and near misses fail."""

from __future__ import annotations

import importlib.util
import re
from functools import partial
from pathlib import Path

import psutil
import pytest

import tests.helpers as helpers
from comet_core.exercises import exercise

ROOT = Path(__file__).resolve().parents[2]
PART = ROOT / "parts" / "part01"
SOLUTION = PART / "exercise" / "solution.py"
STARTER = PART / "exercise" / "starter.py"
RELEASE = """        released, self.waiting = self.waiting, set()
        for request in released:
            reply(request, 200, message)
        return len(released)
"""


code_of = helpers.code_of
check_cli = partial(helpers.check_cli, 1)


def variant(tmp_path: Path, release: str) -> Path:
    """The solution with its release step replaced by `release`."""
    return helpers.attempt(tmp_path, SOLUTION.read_text(), RELEASE, release)


def test_the_solution_passes_through_the_command_line() -> None:
    done = check_cli(SOLUTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASS: part 1 exercise")


def test_the_untouched_starter_fails_and_says_why() -> None:
    assert "# YOUR CODE HERE" in STARTER.read_text()
    done = check_cli(STARTER)
    assert done.returncode == 1
    assert done.stdout.startswith("NOT YET: part 1 exercise")
    assert "3 of the 3 waiting requests got no answer" in done.stdout
    assert "Board.publish" in done.stdout


def test_the_solution_is_the_server_the_page_shows_and_the_starter_lacks_only_the_gap(
        tmp_path: Path) -> None:
    assert code_of(SOLUTION) == code_of(PART / "twisted_server.py")
    gap = re.compile(r"        # YOUR CODE HERE.*?        return 0\n", re.DOTALL)
    filled = tmp_path / "filled.py"
    filled.write_text(gap.sub(lambda _: RELEASE, STARTER.read_text(), count=1))
    assert code_of(filled) == code_of(SOLUTION)


@pytest.mark.parametrize("release, expected", [
    ("        for request in self.waiting:\n"
     "            reply(request, 200, message)\n"
     "        return len(self.waiting)\n",
     "no request should be left waiting"),
    ("        released, self.waiting = self.waiting, set()\n"
     "        for request in released:\n"
     "            reply(request, 200, message)\n"
     "        return 0\n",
     "expected 'released 3'"),
    ("        released, self.waiting = self.waiting, set()\n"
     "        for request in released:\n"
     "            reply(request, 200, b'something else')\n"
     "        return len(released)\n",
     "expected (200, b'first message')"),
    ("        raise ValueError('oops')\n", "answered HTTP 500"),
    ("        return len(self.waiting\n", "exited before it was ready"),
])
def test_near_misses_get_a_helpful_problem(tmp_path: Path, release: str, expected: str) -> None:
    problems = exercise(1).check(variant(tmp_path, release))
    assert problems, "the check passed a wrong solution"
    assert any(expected in problem for problem in problems), problems


def test_a_server_that_never_starts_is_reported_and_stopped(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("part01_check", PART / "exercise" / "check.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    check.START_TIMEOUT = 2.0
    silent = tmp_path / "silent.py"
    silent.write_text("import time\ntime.sleep(600)\n")
    problems = check.check(silent)
    assert len(problems) == 1 and "did not print its address" in problems[0]
    still_running = [p for p in psutil.process_iter(["cmdline"])
                     if str(silent) in (p.info["cmdline"] or [])]
    assert still_running == []


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    assert exercise(1).check(tmp_path / "nowhere.py") == [
        f"there is no file {tmp_path / 'nowhere.py'}"]
