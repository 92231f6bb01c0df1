"""The check for Part 4's exercise: feed the student's `Downstream` pieces of a stream.

Each scenario feeds pieces (offset, bytes), in order, and compares what `accept` returned
for each, whether it raised `Gap`, and what is held at the end, with what a comet client
must do: keep every byte of the stream once, in order, whatever repeats arrive. The last
scenarios cut a long stream into random overlapping pieces, with resends and late copies.
The student's code runs in a subprocess with a time limit; `check(path)` returns the
problems found (none means pass) and never raises.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

TIMEOUT = 20.0  # seconds for all the scenarios together

Piece = tuple[int, str]  # offset, data (latin-1 text, so that JSON carries any byte)

# (what it proves, pieces, what each accept must return: the new bytes, or None for Gap)
SCENARIOS: list[tuple[str, list[Piece], list[str | None]]] = [
    ("pieces that follow one another are all kept",
     [(0, "CONN"), (4, "ECTED"), (9, "\n\n\x00")], ["CONN", "ECTED", "\n\n\x00"]),
    ("a resend of bytes held already adds nothing",
     [(0, "hello"), (0, "hello")], ["hello", ""]),
    ("a piece that overlaps what is held adds only its tail",
     [(0, "hel"), (0, "hello"), (3, "lo world")], ["hel", "lo", " world"]),
    ("a late copy of an old answer is ignored",
     [(0, "one"), (3, "two"), (6, "three"), (3, "two")], ["one", "two", "three", ""]),
    ("an empty piece changes nothing",
     [(0, "ab"), (2, ""), (1, "")], ["ab", "", ""]),
    ("a piece that starts past the bytes held is a gap, and nothing of it is kept",
     [(0, "ab"), (5, "fgh"), (2, "cdefgh")], ["ab", None, "cdefgh"]),
]


def random_scenario(seed: int) -> tuple[str, list[Piece], list[str | None]]:
    """A stream of 400 bytes in overlapping pieces, some sent twice, some arriving late."""
    rng = random.Random(seed)
    stream = "".join(chr(rng.randrange(256)) for _ in range(400))
    pieces: list[Piece] = []
    held = 0
    while held < len(stream):
        start = rng.randrange(max(0, held - 30), held + 1)  # a resend may start earlier
        end = min(len(stream), start + rng.randrange(1, 60))
        pieces.append((start, stream[start:end]))
        if rng.random() < 0.3:
            pieces.append((start, stream[start:end]))  # sent twice
        held = max(held, end)
    expected = []
    h = 0
    for offset, data in pieces:
        new = data[h - offset:]
        expected.append(new)
        h += len(new)
    return (f"a stream in random overlapping pieces (seed {seed})", pieces, expected)


HARNESS = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("student", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["student"] = module
spec.loader.exec_module(module)
for pieces in json.load(sys.stdin):
    stream = module.Downstream()
    returned = []
    try:
        for offset, data in pieces:
            try:
                new = stream.accept(offset, data.encode("latin-1"))
            except module.Gap:
                returned.append(None)
            else:
                returned.append(bytes(new).decode("latin-1"))
        result = {"returned": returned, "held": bytes(stream.held).decode("latin-1"),
                  "ack": stream.ack}
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "at": [offset, data]}
    print(json.dumps(result), flush=True)
"""


def _show(pieces: list[Piece]) -> str:
    shown = ", ".join(f"({offset}, {data.encode('latin-1')!r})" for offset, data in pieces)
    return shown if len(shown) < 300 else f"{len(pieces)} pieces"


def judge(what: str, pieces: list[Piece], expected: list[str | None],
          result: dict[str, object]) -> str | None:
    if "error" in result:
        return f"{what}: accept raised {result['error']} at the piece {result['at']!r}."
    returned = result["returned"]
    assert isinstance(returned, list)
    for n, (piece, want, got) in enumerate(zip(pieces, expected, returned, strict=True)):
        if got == want:
            continue
        offset = piece[0]
        before = _show(pieces[:n]) or "nothing"
        if want is None:
            return (f"{what}: after {before}, the piece at offset {offset} starts past the "
                    f"bytes held: accept should raise Gap, but it returned "
                    f"{got.encode('latin-1')!r}.")
        if got is None:
            return (f"{what}: after {before}, accept raised Gap for the piece at offset "
                    f"{offset}, which does not start past the bytes held.")
        return (f"{what}: after {before}, accept({offset}, "
                f"{piece[1].encode('latin-1')!r}) returned {got.encode('latin-1')!r}; "
                f"expected {want.encode('latin-1')!r}.")
    held = "".join(new for new in expected if new is not None)
    if result["held"] != held:
        return (f"{what}: held is {result['held'].encode('latin-1')!r} at the end; "
                f"expected {held.encode('latin-1')!r}.")
    if result["ack"] != len(held):
        return f"{what}: ack is {result['ack']} at the end; expected {len(held)}."
    return None


def check(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        return [f"there is no file {path}"]
    scenarios = SCENARIOS + [random_scenario(seed) for seed in (1, 2, 3)]
    try:
        done = subprocess.run([sys.executable, "-c", HARNESS, str(path)],
                              input=json.dumps([pieces for _, pieces, _ in scenarios]),
                              capture_output=True, text=True, timeout=TIMEOUT)
        stdout, note = done.stdout, done.stderr.strip()
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
        stdout = out.decode(errors="replace") if isinstance(out, bytes) else out
        note = "timeout"
    results = []
    for line in stdout.splitlines():
        try:
            results.append(json.loads(line))
        except ValueError:
            continue  # something the student printed
    problems = []
    for (what, pieces, expected), result in zip(scenarios, results, strict=False):
        problem = judge(what, pieces, expected, result)
        if problem is not None:
            problems.append(problem)
    if len(results) < len(scenarios):
        what = scenarios[len(results)][0]
        if note == "timeout":
            problems.append(f"{what}: your code did not finish within {TIMEOUT:.0f} s.")
        else:
            tail = " | ".join(note.splitlines()[-6:])
            problems.append(f"your file could not be run: {tail or 'no output'}")
    return problems
