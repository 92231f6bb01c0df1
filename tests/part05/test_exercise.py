"""Part 5's workshop exercise: the solution (and comet_core's own encoder) pass the check; the
starter and near misses fail."""

from __future__ import annotations

import inspect
import textwrap
from functools import partial
from pathlib import Path

import pytest

import tests.helpers as helpers
from comet_core.exercises import exercise
from comet_core.transports.http import wire
from tests.part02.support import PARTS

FOLDER = PARTS / "part05" / "exercise"
SOLUTION = FOLDER / "solution.py"
STARTER = FOLDER / "starter.py"
BODY = '''    head = b"id: %d\\n" % (offset + len(data))
    if b"\\r" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return head + b"".join(b"data: %s\\n" % line for line in data.split(b"\\n")) + b"\\n"
    return head + b"event: b\\ndata: %s\\n\\n" % base64.b64encode(data)
'''


check_cli = partial(helpers.check_cli, 5)


def with_body(tmp_path: Path, body: str) -> Path:
    return helpers.attempt(tmp_path, SOLUTION.read_text(), BODY, body)


def test_the_solution_passes_through_the_command_line() -> None:
    done = check_cli(SOLUTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASS: part 5 exercise")


def test_the_untouched_starter_fails_and_says_why() -> None:
    done = check_cli(STARTER)
    assert done.returncode == 1
    assert "sse_event(0, b'hello') returned b''" in done.stdout


def test_comet_core_s_own_encoder_passes_the_same_check(tmp_path: Path) -> None:
    """The check and the server agree on what an event must be."""
    path = tmp_path / "server.py"
    path.write_text("import base64\n\n" + textwrap.dedent(inspect.getsource(wire.sse_event)))
    assert exercise(5).check(path) == []


ALL_TEXT = '''    lines = b"".join(b"data: %s\\n" % line for line in data.split(b"\\n"))
    return b"id: %d\\n" % (offset + len(data)) + lines + b"\\n"
'''
NO_SPACE = BODY.replace('b"data: %s\\n" % line', 'b"data:%s\\n" % line')
ID_BEFORE = BODY.replace("(offset + len(data))", "offset")
ALL_BASE64 = '''    encoded = base64.b64encode(data)
    return b"id: %d\\nevent: b\\ndata: %s\\n\\n" % (offset + len(data), encoded)
'''


@pytest.mark.parametrize(("body", "complaint"), [
    (ALL_TEXT, "use base64 in an event of type b"),
    (NO_SPACE, "lines that start with a space or a colon"),
    (ID_BEFORE, "gave the event id '0'; expected '5'"),
    (ALL_BASE64, "send it as text"),
])
def test_near_misses_fail_with_a_useful_message(tmp_path: Path, body: str,
                                                 complaint: str) -> None:
    problems = exercise(5).check(with_body(tmp_path, body))
    assert any(complaint in p for p in problems), problems
