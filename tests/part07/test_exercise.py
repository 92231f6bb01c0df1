"""Part 7's workshop exercise (a chat line shown as text, run in Chromium): the solution
passes the check; the untouched starter (innerHTML, as the Orbited-era chats did) and a
hand-made escape fail it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.part02.support import PARTS
from tests.part06.support import check_cli, check_problems, need_browser

FOLDER = PARTS / "part07" / "exercise"
SOLUTION = FOLDER / "solution.js"
STARTER = FOLDER / "starter.js"


@pytest.fixture(autouse=True)
def _browser() -> None:
    need_browser()


def test_the_solution_passes_through_the_command_line() -> None:
    done = check_cli(7, SOLUTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASS: part 7 exercise")


def test_the_untouched_starter_is_an_injection_hole_and_fails() -> None:
    done = check_cli(7, STARTER)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the line holds <img> that came from the message itself" in done.stdout
    assert "a plain message:" not in done.stdout  # it fails for the right reason only


def test_escaping_by_hand_misses_a_case(tmp_path: Path) -> None:
    """Replacing < and > but not & turns "&lt;" into "<": not the characters sent."""
    source = STARTER.read_text()
    escaped = source.replace(
        "${message.nick}", '${String(message.nick).replace(/</g, "&lt;").replace(/>/g, "&gt;")}'
    ).replace(
        "${message.text}", '${String(message.text).replace(/</g, "&lt;").replace(/>/g, "&gt;")}')
    assert escaped != source
    path = tmp_path / "attempt.js"
    path.write_text(escaped)
    problems = check_problems(7, path)
    assert any(p.startswith("an HTML entity, meant as its characters") for p in problems), problems
    assert not any("became markup" in p for p in problems), problems
