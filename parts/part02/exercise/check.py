"""The check for Part 2's exercise: run the student's `frame_bytes` for real.

`check(path)` first calls the student's `frame_bytes` on a set of frames, in a subprocess (so
a hang or a crash is reported, not suffered), and reads each result back with comet_core's
codec: the command, headers and body must come back unchanged. Then it starts a broker on a
free port and runs the student's file as a client against it: the message it sends (NUL
octets in the body, colons and backslashes in a header) must come back intact.
It returns the problems found (none means pass); it never raises, and stops what it started.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from comet_core.stomp.errors import StompError
from comet_core.stomp.frames import FrameParser

TIMEOUT = 20.0  # seconds for each subprocess: the harness, the broker's start, the client
LISTENING = re.compile(r"listening on (\d+\.\d+\.\d+\.\d+):(\d+)")

# (what the case tries, command, headers, body)
CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("a frame without headers or body", "DISCONNECT", {}, b""),
    ("a frame with a header and no body", "SUBSCRIBE",
     {"id": "0", "destination": "/topic/chat"}, b""),
    ("a text body", "SEND", {"destination": "/topic/chat"}, b"hello"),
    ("a body with NUL octets", "SEND", {"destination": "/topic/bin"}, b"\0one\0two\0"),
    ("a header value with a colon, a backslash, a line feed and a CR", "SEND",
     {"destination": "/queue/x", "note": "a:b\\c\nd\re"}, b""),
    ("a header name with a colon", "SEND", {"destination": "/queue/x", "x:y": "z"}, b""),
    ("non-ASCII text in a header and the body", "SEND",
     {"destination": "/topic/café"}, "crème brûlée".encode()),
]

HARNESS = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("student", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["student"] = module  # dataclasses look their module up
spec.loader.exec_module(module)
for command, headers, body in json.load(sys.stdin):
    try:
        data = module.frame_bytes(command, headers, bytes.fromhex(body))
        if isinstance(data, (bytes, bytearray)):
            print(json.dumps({"bytes": bytes(data).hex()}))
        else:
            print(json.dumps({"wrong type": type(data).__name__}))
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
"""


def run_harness(path: Path) -> tuple[list[dict[str, str]], str]:
    """The student's results per case, and any error output."""
    cases = [[command, headers, body.hex()] for _, command, headers, body in CASES]
    try:
        done = subprocess.run([sys.executable, "-c", HARNESS, str(path)],
                              input=json.dumps(cases), capture_output=True, text=True,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return [], (f"frame_bytes did not return within {TIMEOUT:.0f} s (is there a loop "
                    "that never ends?)")
    results = []
    for line in done.stdout.splitlines():
        try:
            results.append(json.loads(line))
        except ValueError:
            continue  # something the student printed
    return results, done.stderr.strip()


def judge(what: str, command: str, headers: dict[str, str], body: bytes,
          result: dict[str, str]) -> str | None:
    """The problem with one result, or None when the frame reads back unchanged."""
    if "error" in result:
        return f"frame_bytes raised {result['error']} for {what}."
    if "wrong type" in result:
        return f"frame_bytes returned a {result['wrong type']}, not bytes, for {what}."
    data = bytes.fromhex(result["bytes"])
    if not data:
        return f"frame_bytes returned nothing (b'') for {what}."
    first_line = command.encode() + b"\n"
    if not data.startswith(first_line):
        return (f"for {what}, the frame should start with the command line "
                f"{first_line!r}; yours starts {data[:30]!r}.")
    if not data.endswith(b"\0"):
        return (f"for {what}, the frame should end with a NUL octet (b'\\x00'); yours ends "
                f"{data[-20:]!r}.")
    try:
        frames = FrameParser(version="1.2").feed(data)
    except StompError as exc:
        hint = (" content-length is the body's length in bytes (len() of the bytes, not of "
                "text)." if "content-length" in str(exc) else "")
        return f"for {what}, a STOMP 1.2 parser refuses your bytes {data!r}: {exc}{hint}"
    early = ("a NUL inside the body ends the frame early unless content-length says how long "
             "the body is.")
    if len(frames) != 1:
        return f"for {what}, your bytes {data!r} read as {len(frames)} frames, not one: {early}"
    frame = frames[0]
    got = [(name, value) for name, value in frame.headers if name != "content-length"]
    if got != list(headers.items()):
        return (f"for {what}, the headers read back as {got!r} instead of "
                f"{list(headers.items())!r}: escape \\ as \\\\, LF as \\n, : as \\c, CR as "
                f"\\r. Your bytes: {data!r}")
    if frame.body != body:
        hint = f" {early}" if b"\0" in body and frame.get("content-length") is None else ""
        return (f"for {what}, the body read back as {frame.body!r} instead of {body!r}."
                f"{hint} Your bytes: {data!r}")
    lengths = [value for name, value in frame.headers if name == "content-length"]
    if body and lengths != [str(len(body))]:
        return (f"for {what}, expected one content-length header of {len(body)} (the body's "
                f"length in bytes), got {lengths!r}.")
    return None


class Broker:
    """`python -m comet_core broker` on a free port."""

    def __init__(self) -> None:
        self.output = tempfile.TemporaryFile()
        self.popen = subprocess.Popen(
            [sys.executable, "-u", "-m", "comet_core", "broker", "--port", "0", "--quiet"],
            stdin=subprocess.DEVNULL, stdout=self.output, stderr=subprocess.STDOUT)

    def address(self) -> tuple[str, int] | None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and self.popen.poll() is None:
            self.output.seek(0)
            if m := LISTENING.search(self.output.read().decode(errors="replace")):
                return m.group(1), int(m.group(2))
            time.sleep(0.05)  # another process: look at its output again shortly
        return None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.output.close()


def check_live(path: Path) -> list[str]:
    """Run the student's file as a client against a real broker."""
    broker = Broker()
    try:
        address = broker.address()
        if address is None:
            return ["the check could not start a broker (python -m comet_core broker); "
                    "is comet_core installed?"]
        host, port = address
        try:
            done = subprocess.run([sys.executable, str(path), "--host", host,
                                   "--port", str(port)], stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return [f"your client did not finish within {TIMEOUT:.0f} s against the broker."]
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-6:]
            return ["your client failed against a real broker: " + " | ".join(said)]
        return []
    finally:
        broker.stop()


def check(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        return [f"there is no file {path}"]
    results, errors = run_harness(path)
    if len(results) != len(CASES):
        tail = " | ".join(errors.splitlines()[-6:])
        return [f"your file could not be run to call frame_bytes: {tail or 'no output'}"]
    problems = []
    for (what, command, headers, body), result in zip(CASES, results, strict=True):
        problem = judge(what, command, headers, body, result)
        if problem is not None:
            problems.append(problem)
    if problems:
        return problems
    return check_live(path)
