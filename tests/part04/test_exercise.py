"""Part 4's workshop exercise: the solution passes its check, the starter and near misses fail."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

import tests.helpers as helpers
from comet_core.exercises import exercise
from tests.part02.support import PARTS

FOLDER = PARTS / "part04" / "exercise"
SOLUTION = FOLDER / "solution.py"
STARTER = FOLDER / "starter.py"
BODY = """        h = len(self.held)
        if offset > h:
            raise Gap(f"we hold {h} bytes, and this piece starts at {offset}")
        new = data[h - offset:]
        self.held += new
        return new
"""
GAP = """        # YOUR CODE HERE: drop the bytes held already, keep the rest, raise Gap for a hole.
        return b""
"""


check_cli = partial(helpers.check_cli, 4)


def with_accept(tmp_path: Path, body: str) -> Path:
    return helpers.attempt(tmp_path, SOLUTION.read_text(), BODY, body)


def test_the_solution_passes_through_the_command_line() -> None:
    done = check_cli(SOLUTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASS: part 4 exercise")


def test_the_untouched_starter_fails_and_says_why() -> None:
    done = check_cli(STARTER)
    assert done.returncode == 1
    assert done.stdout.startswith("NOT YET: part 4 exercise")
    assert "accept(0, b'CONN') returned b''; expected b'CONN'." in done.stdout


def test_the_starter_lacks_only_the_gap() -> None:
    assert STARTER.read_text() == SOLUTION.read_text().replace(BODY, GAP)


NO_DEDUPE = """        self.held += data
        return data
"""
NO_GAP = """        h = len(self.held)
        new = data[max(0, h - offset):]
        self.held += new
        return new
"""
KEEPS_ON_GAP = """        h = len(self.held)
        if offset > h:
            self.held += data
            raise Gap("hole")
        new = data[h - offset:]
        self.held += new
        return new
"""
LOOPS = """        while True:
            pass
"""


@pytest.mark.parametrize(("body", "complaint"), [
    (NO_DEDUPE, "a resend of bytes held already adds nothing"),
    (NO_GAP, "accept should raise Gap"),
    (KEEPS_ON_GAP, "a piece that starts past the bytes held is a gap"),
    (LOOPS, "did not finish within"),
])
def test_near_misses_fail_with_a_useful_message(tmp_path: Path, body: str,
                                                 complaint: str) -> None:
    problems = exercise(4).check(with_accept(tmp_path, body))
    assert any(complaint in p for p in problems), problems


def test_a_file_that_does_not_run_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def accept(:\n")
    problems = exercise(4).check(broken)
    assert problems and "could not be run" in problems[0]
    assert exercise(4).check(tmp_path / "missing.py") == [
        f"there is no file {tmp_path / 'missing.py'}"]
