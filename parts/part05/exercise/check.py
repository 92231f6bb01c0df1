"""The check for Part 5's exercise: read the student's events as a browser would.

Each case encodes one piece of data with the student's `sse_event`, parses the result with
the event-stream rules of the HTML standard (the ones `EventSource` follows), and checks
that exactly one event comes out, that its id is the offset after the data, and that its
data (decoded from base64 when the event type is `b`) is the piece, byte for byte. Text
must go as text, so that a page's `onmessage` gets it. The student's code runs in a
subprocess with a time limit; `check(path)` returns the problems found and never raises.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

TIMEOUT = 20.0

# (what it proves, offset, data as latin-1 text, must it be a text event?)
CASES: list[tuple[str, int, str, bool]] = [
    ("a one-line text", 0, "hello", True),
    ("a STOMP frame, with line feeds and a NUL", 5,
     "MESSAGE\ndestination:/topic/a\n\nhi\x00", True),
    ("text that ends with a line feed", 40, "two\nlines\n", True),
    ("lines that start with a space or a colon", 7, " indented\n:colon\n", True),
    ("UTF-8 beyond ASCII", 3, "caf\xc3\xa9 \xe2\x82\xac", True),
    ("bytes that are not UTF-8", 100, "\xff\xfe\x00\x01", False),
    ("text holding a CR (a browser would read it as a line end)", 9, "a\r\nb", False),
    ("an empty line in the middle", 0, "a\n\nb", True),
]

HARNESS = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("student", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["student"] = module
spec.loader.exec_module(module)
for offset, data in json.load(sys.stdin):
    try:
        out = module.sse_event(offset, data.encode("latin-1"))
        result = {"out": bytes(out).decode("latin-1")}
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
"""


def parse(stream: bytes) -> list[dict[str, object]]:
    """Events as `EventSource` dispatches them (type, data, last event id)."""
    text = stream.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    events: list[dict[str, object]] = []
    kind, data, last_id = "", "", None
    for line in text.split("\n"):
        if line == "":
            if data:  # an event with no data is not dispatched
                events.append({"type": kind or "message", "data": data[:-1], "id": last_id})
            kind, data = "", ""
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            kind = value
        elif field == "data":
            data += value + "\n"
        elif field == "id" and "\x00" not in value:
            last_id = value
    if data:
        events.append({"incomplete": True})
    return events


def judge(what: str, offset: int, data: bytes, text: bool, out: bytes) -> str | None:
    call = f"sse_event({offset}, {data!r})"
    if not out.endswith(b"\n\n"):
        return f"{what}: {call} returned {out!r}, which does not end the event with an empty line."
    events = parse(out)
    if len(events) != 1 or "incomplete" in events[0]:
        return (f"{what}: {call} returned {out!r}; a browser reads {len(events)} events from "
                "it, not one.")
    event = events[0]
    want_id = str(offset + len(data))
    if event["id"] != want_id:
        return f"{what}: {call} gave the event id {event['id']!r}; expected {want_id!r}."
    got_data = str(event["data"])
    if event["type"] == "b":
        try:
            carried = base64.b64decode(got_data, validate=True)
        except ValueError:
            return f"{what}: {call} made a `b` event whose data is not base64: {got_data!r}."
    elif event["type"] == "message":
        if not text:
            return (f"{what}: {call} sent these bytes as text, but a browser cannot get them "
                    "back exactly that way: use base64 in an event of type b.")
        carried = got_data.encode("utf-8")
    else:
        return f"{what}: {call} made an event of type {event['type']!r}; use message or b."
    if text and event["type"] != "message":
        return (f"{what}: {call} used base64 for valid UTF-8 text without CR: send it as "
                "text, so that the page's onmessage can read it.")
    if carried != data:
        return (f"{what}: {call} returned {out!r}; the browser gets {carried!r} back, not "
                f"{data!r}.")
    return None


def check(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        return [f"there is no file {path}"]
    try:
        done = subprocess.run([sys.executable, "-c", HARNESS, str(path)],
                              input=json.dumps([[o, d] for _, o, d, _ in CASES]),
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
            continue
    problems = []
    for (what, offset, data, text), result in zip(CASES, results, strict=False):
        raw = data.encode("latin-1")
        if "error" in result:
            problems.append(f"{what}: sse_event({offset}, {raw!r}) raised {result['error']}.")
            continue
        problem = judge(what, offset, raw, text, result["out"].encode("latin-1"))
        if problem is not None:
            problems.append(problem)
    if len(results) < len(CASES):
        what = CASES[len(results)][0]
        if note == "timeout":
            problems.append(f"{what}: your code did not finish within {TIMEOUT:.0f} s.")
        else:
            tail = " | ".join(note.splitlines()[-6:])
            problems.append(f"your file could not be run: {tail or 'no output'}")
    return problems
