"""Part 2's workshop exercise: the solution passes its check, the starter and near misses fail."""

from __future__ import annotations

import importlib.util
import re
from functools import partial
from pathlib import Path

import pytest

import tests.helpers as helpers
from comet_core.exercises import exercise
from tests.part02.support import PARTS

FOLDER = PARTS / "part02" / "exercise"
SOLUTION = FOLDER / "solution.py"
STARTER = FOLDER / "starter.py"
SOURCE = SOLUTION.read_text()
# The solution's body of frame_bytes: what the starter's gap stands for.
BODY = SOURCE[SOURCE.index("    escapes = "):SOURCE.index("# end-frame-bytes")]


code_of = helpers.code_of
check_cli = partial(helpers.check_cli, 2)


def variant(tmp_path: Path, old: str, new: str) -> Path:
    return helpers.attempt(tmp_path, SOURCE, old, new)


def test_the_solution_passes_through_the_command_line() -> None:
    done = check_cli(SOLUTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASS: part 2 exercise")


def test_the_untouched_starter_fails_and_says_why() -> None:
    assert "# YOUR CODE HERE" in STARTER.read_text()
    done = check_cli(STARTER)
    assert done.returncode == 1
    assert done.stdout.startswith("NOT YET: part 2 exercise")
    assert "frame_bytes returned nothing (b'')" in done.stdout


def test_the_starter_lacks_only_the_gap(tmp_path: Path) -> None:
    assert BODY.endswith('return head.encode("utf-8") + body + b"\\0"\n')
    gap = re.compile(r"    # YOUR CODE HERE.*?    return b\"\"\n", re.DOTALL)
    filled = tmp_path / "filled.py"
    filled.write_text(gap.sub(lambda _: BODY, STARTER.read_text(), count=1))
    assert code_of(filled) == code_of(SOLUTION)


@pytest.mark.parametrize("old, new, expected", [
    ('        lines.append(f"content-length:{len(body)}")\n', "        pass\n",
     "a NUL inside the body ends the frame early unless content-length"),
    ('f"{name.translate(escapes)}:{value.translate(escapes)}"', 'f"{name}:{value}"',
     "escape \\ as \\\\"),
    ('"\\\\": "\\\\\\\\", ', "", "escape \\ as \\\\"),
    ('f"content-length:{len(body)}"', 'f"content-length:{len(body.decode())}"',
     "length in bytes (len() of the bytes, not of text)"),
    ('return head.encode("utf-8") + body + b"\\0"', 'return head.encode("utf-8") + body',
     "should end with a NUL octet"),
    ('return head.encode("utf-8") + body + b"\\0"', "return head + body.decode() + '\\0'",
     "returned a str, not bytes"),
    ('    lines = [command]\n', "    lines = [command.lower()]\n",
     "should start with the command line"),
    ('    lines = [command]\n', "    raise RuntimeError('oops')\n", "raised RuntimeError: oops"),
    ('    lines = [command]\n', "    lines = [command\n", "could not be run"),
])
def test_near_misses_get_a_helpful_problem(tmp_path: Path, old: str, new: str,
                                           expected: str) -> None:
    problems = exercise(2).check(variant(tmp_path, old, new))
    assert problems, "the check passed a wrong solution"
    assert any(expected in problem for problem in problems), problems


def test_a_client_that_breaks_against_the_broker_is_reported(tmp_path: Path) -> None:
    attempt = variant(tmp_path, '"/topic/exercise"', '"exercise"')
    problems = exercise(2).check(attempt)
    assert len(problems) == 1
    assert "failed against a real broker" in problems[0]
    assert "unknown destination" in problems[0]


def test_a_function_that_never_returns_is_reported(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("part02_check", FOLDER / "check.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    check.TIMEOUT = 2.0
    attempt = variant(tmp_path, "    lines = [command]\n", "    while True:\n        pass\n")
    problems = check.check(attempt)
    assert problems == ["your file could not be run to call frame_bytes: frame_bytes did not "
                        "return within 2 s (is there a loop that never ends?)"]


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    assert exercise(2).check(tmp_path / "nowhere.py") == [
        f"there is no file {tmp_path / 'nowhere.py'}"]
