"""The check for Part 6's exercise: receipts as promises, run in Chromium.

The student's `Receipts` class (a JavaScript module) and `checker.js` are served by a real
`python -m comet_core serve`; `checker.js` first feeds the class frames by hand (RECEIPTs in
any order, an ERROR naming a receipt, frames to ignore, the connection closing), then uses
it on a `CometSocket` to that server: SENDs answered by RECEIPTs, a SEND the broker refuses
with an ERROR, and the end of the session, which must reject what still waits.
`check(path)` returns the problems found (Chromium missing is one) and never raises.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _harness():
    spec = importlib.util.spec_from_file_location("comet_exercise_harness", HERE / "harness.py")
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
