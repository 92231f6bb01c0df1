"""The check for Part 7's exercise: a chat line shown as text, run in Chromium.

The student's `line(message)` (a JavaScript module) and `checker.js` are served by a real
`python -m comet_core serve`. In Chromium, one CometSocket publishes hostile messages to a
chat room (an image with an error handler, markup in a nickname, a script element, entities,
a number and null), another receives them and shows each with `line()` in the page, and
every line is inspected: nick and text exactly as sent, no element or handler from a
message, no code run, no dialog. Part 6's harness does the running. `check(path)` returns
the problems found (Chromium missing is one) and never raises.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESS = HERE.parent.parent / "part06" / "exercise" / "harness.py"


def _harness():
    spec = importlib.util.spec_from_file_location("comet_exercise_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def check(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        return [f"there is no file {path}"]
    harness = _harness()
    outcome = harness.run(path, HERE / "checker.js")
    problems = harness.problems_of(outcome)
    if not problems and not outcome.report.get("results"):
        problems.append("the check found nothing to judge: the page reported no results.")
    return problems
