"""Check a workshop exercise: `check 1` checks Part 1's starter file as you edited it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from comet_core.exercises import exercise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("part", type=int, help="the part number of the exercise")
    parser.add_argument("--file", type=Path, default=None,
                        help="the file to check (default: the part's exercise/starter.py)")


def run(args: argparse.Namespace) -> int:
    try:
        ex = exercise(args.part)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = args.file or ex.starter
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    problems = ex.check(path)
    if not problems:
        print(f"PASS: part {ex.part} exercise ({path})")
        return 0
    print(f"NOT YET: part {ex.part} exercise ({path})")
    for problem in problems:
        print(f"  - {problem}")
    return 1
