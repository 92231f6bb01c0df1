"""The check for Part 3's exercise: run the student's `WorkQueue` through small scenarios.

Each scenario subscribes consumers, publishes, acknowledges and NACKs, then compares what
every consumer received (and what still waits) with what a /queue/ must do. The student's
code runs in a subprocess with a time limit, so a loop that never ends is reported, not
suffered. `check(path)` returns the problems found (none means pass) and never raises.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TIMEOUT = 20.0  # seconds for all the scenarios together

Received = dict[str, list[list[object]]]

# (what it proves, operations, expected received per consumer, expected waiting bodies).
# Operations: "sub NAME WINDOW", "pub BODY", "ack NAME BODY", "nack NAME BODY", "unsub NAME".
SCENARIOS: list[tuple[str, list[str], Received, list[str]]] = [
    ("three consumers with room for one message each take turns",
     ["sub a 1", "sub b 1", "sub c 1", "pub m1", "pub m2", "pub m3"],
     {"a": [["m1", False]], "b": [["m2", False]], "c": [["m3", False]]}, []),
    ("a message waits while nobody has room, and goes out when an ACK makes room",
     ["sub a 1", "sub b 1", "pub m1", "pub m2", "pub m3", "ack b m2"],
     {"a": [["m1", False]], "b": [["m2", False], ["m3", False]]}, []),
    ("turns go on where they stopped (windows of two)",
     ["sub a 2", "sub b 2", "pub m1", "pub m2", "pub m3", "pub m4"],
     {"a": [["m1", False], ["m3", False]], "b": [["m2", False], ["m4", False]]}, []),
    ("messages published before anyone subscribes wait, and go out oldest first",
     ["pub m1", "pub m2", "pub m3", "sub a 2"],
     {"a": [["m1", False], ["m2", False]]}, ["m3"]),
    ("with no consumer at all, a published message simply waits",
     ["pub m1"], {}, ["m1"]),
    ("a consumer that is full is skipped",
     ["sub a 1", "sub b 3", "pub m1", "pub m2", "pub m3", "pub m4"],
     {"a": [["m1", False]], "b": [["m2", False], ["m3", False], ["m4", False]]}, []),
    ("a NACKed message goes to the next consumer with room, marked redelivered",
     ["sub a 1", "sub b 1", "pub m1", "nack a m1"],
     {"a": [["m1", False]], "b": [["m1", True]]}, []),
    ("a consumer that leaves gives its unacknowledged messages to others, in order",
     ["sub a 3", "pub m1", "pub m2", "pub m3", "sub b 3", "unsub a"],
     {"a": [["m1", False], ["m2", False], ["m3", False]],
      "b": [["m1", True], ["m2", True], ["m3", True]]}, []),
]

HARNESS = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("student", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["student"] = module  # dataclasses look their module up
spec.loader.exec_module(module)
for operations in json.load(sys.stdin):
    queue = module.WorkQueue()
    consumers = {}
    try:
        for operation in operations:
            verb, *args = operation.split()
            if verb == "sub":
                consumers[args[0]] = queue.subscribe(args[0], int(args[1]))
            elif verb == "pub":
                queue.publish(args[0])
            elif verb == "ack":
                queue.ack(args[0], args[1])
            elif verb == "nack":
                queue.nack(args[0], args[1])
            else:
                queue.unsubscribe(args[0])
        result = {
            "received": {n: [[b, bool(r)] for b, r in c.received] for n, c in consumers.items()},
            "waiting": [m.body for m in queue.waiting],
        }
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "at": operation}
    print(json.dumps(result), flush=True)
"""


def run_harness(path: Path) -> tuple[list[dict[str, object]], str]:
    """The student's result per scenario, and a note on why some are missing."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", HARNESS, str(path)],
            input=json.dumps([operations for _, operations, _, _ in SCENARIOS]),
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
    return results, note


def judge(what: str, operations: list[str], received: Received, waiting: list[str],
          result: dict[str, object]) -> str | None:
    steps = ", ".join(operations)
    if "error" in result:
        return (f"{what}: your WorkQueue raised {result['error']} at {result['at']!r} "
                f"(operations: {steps}).")
    got = result["received"]
    assert isinstance(got, dict)
    # A consumer that received nothing is the same as one not listed.
    got = {name: items for name, items in got.items() if items}
    if got != received:
        return (f"{what}: after {steps}, the consumers received {_show(got)}; expected "
                f"{_show(received)}.")
    if result["waiting"] != waiting:
        return (f"{what}: after {steps}, waiting is {result['waiting']}; expected {waiting}.")
    return None


def _show(received: Received) -> str:
    if not received:
        return "nothing"
    return "; ".join(
        f"{name}: " + ", ".join(f"{body}{' (redelivered)' if again else ''}"
                                for body, again in items)
        for name, items in sorted(received.items()))


def check(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        return [f"there is no file {path}"]
    results, note = run_harness(path)
    problems = []
    for (what, operations, received, waiting), result in zip(SCENARIOS, results, strict=False):
        problem = judge(what, operations, received, waiting, result)
        if problem is not None:
            problems.append(problem)
    if len(results) < len(SCENARIOS):
        what, operations, _, _ = SCENARIOS[len(results)]
        if note == "timeout":
            problems.append(
                f"{what}: your WorkQueue did not finish within {TIMEOUT:.0f} s "
                f"(operations: {', '.join(operations)}). Does dispatch stop when no consumer "
                "has room, or when there are no consumers at all?")
        else:
            tail = " | ".join(note.splitlines()[-6:])
            problems.append(f"your file could not be run: {tail or 'no output'}")
    return problems
