"""Part 3's workshop exercise: the solution passes its check, the starter and near misses fail."""

from __future__ import annotations

import importlib.util
import re
from functools import partial
from pathlib import Path

import pytest

import tests.helpers as helpers
from comet_core.exercises import exercise
from tests.part02.support import PARTS

FOLDER = PARTS / "part03" / "exercise"
SOLUTION = FOLDER / "solution.py"
STARTER = FOLDER / "starter.py"
BODY = """        while self.waiting:
            count = len(self.consumers)
            for step in range(count):
                index = (self.turn + step) % count
                consumer = self.consumers[index]
                if consumer.has_room():
                    break
            else:
                return  # nobody has room (or nobody is subscribed): the messages wait
            self.turn = index + 1
            message = self.waiting.popleft()
            consumer.unacked.append(message)
            consumer.received.append((message.body, message.redelivered))
"""


code_of = helpers.code_of
check_cli = partial(helpers.check_cli, 3)


def with_dispatch(tmp_path: Path, body: str) -> Path:
    return helpers.attempt(tmp_path, SOLUTION.read_text(), BODY, body)


def test_the_solution_passes_through_the_command_line() -> None:
    done = check_cli(SOLUTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASS: part 3 exercise")


def test_the_untouched_starter_fails_and_says_why() -> None:
    assert "# YOUR CODE HERE" in STARTER.read_text()
    done = check_cli(STARTER)
    assert done.returncode == 1
    assert done.stdout.startswith("NOT YET: part 3 exercise")
    assert "three consumers with room for one message each take turns" in done.stdout
    assert "the consumers received nothing; expected a: m1; b: m2; c: m3." in done.stdout


def test_the_starter_lacks_only_the_gap(tmp_path: Path) -> None:
    gap = re.compile(r"        # YOUR CODE HERE.*?        pass\n", re.DOTALL)
    filled = tmp_path / "filled.py"
    filled.write_text(gap.sub(lambda _: BODY, STARTER.read_text(), count=1))
    assert code_of(filled) == code_of(SOLUTION)


FIRST_WITH_ROOM = """        while self.waiting:
            ready = [c for c in self.consumers if c.has_room()]
            if not ready:
                return
            message = self.waiting.popleft()
            ready[0].unacked.append(message)
            ready[0].received.append((message.body, message.redelivered))
"""
NEWEST_FIRST = FIRST_WITH_ROOM.replace("self.waiting.popleft()", "self.waiting.pop()")
NO_ROOM_CHECK = """        while self.waiting:
            consumer = self.consumers[self.turn % len(self.consumers)]
            self.turn += 1
            message = self.waiting.popleft()
            consumer.unacked.append(message)
            consumer.received.append((message.body, message.redelivered))
"""
NEVER_REDELIVERED = BODY.replace("(message.body, message.redelivered)", "(message.body, False)")
SPINS = """        while self.waiting:
            for consumer in self.consumers:
                if consumer.has_room():
                    message = self.waiting.popleft()
                    consumer.unacked.append(message)
                    consumer.received.append((message.body, message.redelivered))
                    break
"""


@pytest.mark.parametrize("body, expected", [
    (FIRST_WITH_ROOM, "turns go on where they stopped"),
    (NEWEST_FIRST, "go out oldest first"),
    (NO_ROOM_CHECK, "ZeroDivisionError"),
    (NO_ROOM_CHECK, "a message waits while nobody has room"),
    (NEVER_REDELIVERED, "b: m1 (redelivered)"),
])
def test_near_misses_get_a_helpful_problem(tmp_path: Path, body: str, expected: str) -> None:
    problems = exercise(3).check(with_dispatch(tmp_path, body))
    assert problems, "the check passed a wrong solution"
    assert any(expected in problem for problem in problems), problems


def test_a_dispatch_that_never_returns_is_reported(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("part03_check", FOLDER / "check.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    check.TIMEOUT = 3.0
    problems = check.check(with_dispatch(tmp_path, SPINS))
    assert problems, "the check passed a dispatch that never returns"
    assert "did not finish within 3 s" in problems[-1]
    assert "Does dispatch stop when no consumer has room" in problems[-1]


def test_a_file_that_does_not_run_is_reported(tmp_path: Path) -> None:
    problems = exercise(3).check(with_dispatch(tmp_path, "        while (\n"))
    assert len(problems) == 1 and problems[0].startswith("your file could not be run")


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    assert exercise(3).check(tmp_path / "nowhere.py") == [
        f"there is no file {tmp_path / 'nowhere.py'}"]
