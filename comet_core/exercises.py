"""Workshop plumbing: find a part's exercise and run its check on a student's file.

Each part keeps its exercise in `parts/partNN/exercise/`:

- `starter.py` (or `starter.js`): the code with a clearly marked gap for the student to fill in;
- `solution.py` (or `solution.js`): one way to fill it;
- `check.py`: `check(path) -> list[str]`, the problems found in the file at `path`
  (an empty list means it passes).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

PARTS = Path(__file__).resolve().parent.parent / "parts"


@dataclass(frozen=True)
class Exercise:
    part: int
    folder: Path

    @property
    def starter(self) -> Path:
        return self._one("starter")

    @property
    def solution(self) -> Path:
        return self._one("solution")

    def _one(self, stem: str) -> Path:
        """`stem.py`, or the file of another language (Parts 6-7 are JavaScript)."""
        found = sorted(self.folder.glob(f"{stem}.*"))
        return found[0] if found else self.folder / f"{stem}.py"

    def check(self, path: Path) -> list[str]:
        """Run this part's check on `path`; never raises for a broken student file."""
        spec = importlib.util.spec_from_file_location(
            f"comet_exercise_check_{self.part:02d}", self.folder / "check.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        try:
            return list(module.check(Path(path)))
        except Exception as exc:  # a check must report, not crash, whatever the file does
            return [f"the check could not run your code: {type(exc).__name__}: {exc}"]


def exercises() -> list[Exercise]:
    found = []
    for folder in sorted(PARTS.glob("part[0-9][0-9]/exercise")):
        if (folder / "check.py").is_file():
            found.append(Exercise(int(folder.parent.name[4:]), folder))
    return found


def exercise(part: int) -> Exercise:
    for ex in exercises():
        if ex.part == part:
            return ex
    have = ", ".join(str(e.part) for e in exercises()) or "none"
    raise LookupError(f"part {part} has no exercise (exercises exist for: {have})")
