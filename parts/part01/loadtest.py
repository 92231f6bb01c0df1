"""Hold N idle long-poll requests against a server, then release them all with one publish.

For each server and each N, this script starts the server as a subprocess on a free port, opens
N `GET /poll` connections from client processes of its own (a process may only have so many
open files), waits until the server reports all N waiting, and measures:

- memory per held connection: how much the server's resident memory (RSS) grew, divided by N;
- the release: the time from one `POST /publish` until each client has the whole answer;
- what went wrong, if anything: connections refused or reset, requests the server never held,
  answers that never came. Every wait has a deadline, so a failing server cannot hang the run.

Run it from the top of the repository::

    python parts/part01/loadtest.py --n 100,1000 --out parts/part01/results

It writes `results.json` (machine, date, command and figures), and made from it `table.csv`,
`summary.md`, `problems.md` and `plot.svg`, into the `--out` folder.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime
import errno
import http.client
import json
import math
import os
import platform
import queue
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SERVERS = {"threaded": HERE / "threaded_server.py", "twisted": HERE / "twisted_server.py"}
HOST = "127.0.0.1"
MESSAGE = b"hello, everyone"
PER_PROCESS = 5000  # client connections per client process, well under 20,000 open files
CONNECTS_AT_ONCE = 200  # per client process, so a burst does not overflow the listen backlog
CONNECT_TIMEOUT = 20.0  # seconds
ADDRESS = re.compile(r"http://[\d.]+:(\d+)/")


# ---------------------------------------------------------------------------------------------
# The client side: runs in its own process (`loadtest.py _client PORT COUNT`).
# ---------------------------------------------------------------------------------------------

POLL_REQUEST = b"GET /poll HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
MAX_ANSWER = 64 * 1024


class PollClient(asyncio.Protocol):
    """One idle long-poll request: sends GET /poll, then waits for the whole answer."""

    def __init__(self, outcome: asyncio.Future[tuple[str, float]]) -> None:
        self.outcome = outcome
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(POLL_REQUEST)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_ANSWER:
                self.finish("bad answer")
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
        length = int(fields.get("content-length", "0"))
        if len(self.buffer) - end - 4 < length:
            return
        body = bytes(self.buffer[end + 4:end + 4 + length])
        ok = head[0].split(" ")[1:2] == ["200"] and body == MESSAGE
        self.finish("answered" if ok else "bad answer")

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish("closed")

    def finish(self, how: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result((how, time.monotonic()))
        if self.transport is not None:
            self.transport.close()


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in errno.errorcode:
        return f"{errno.errorcode[exc.errno]} on connect"
    if isinstance(exc, TimeoutError):
        return "connect timed out"
    return f"{type(exc).__name__} on connect"


def say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def hold_and_wait(port: int, count: int) -> None:
    """Open `count` long polls; report; wait for their answers or a line on stdin; report."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
    outcomes: list[asyncio.Future[tuple[str, float]]] = []
    errors: Counter[str] = Counter()

    async def open_one() -> None:
        outcome: asyncio.Future[tuple[str, float]] = loop.create_future()
        async with gate:
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: PollClient(outcome), HOST, port),
                    CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                errors[describe(exc)] += 1
                return
        outcomes.append(outcome)

    await asyncio.gather(*(open_one() for _ in range(count)))
    say({"connected": len(outcomes), "errors": dict(errors)})

    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    told_to_stop = asyncio.ensure_future(stdin.readline())
    all_done = asyncio.ensure_future(asyncio.gather(*outcomes))
    await asyncio.wait([told_to_stop, all_done], return_when=asyncio.FIRST_COMPLETED)
    ended: dict[str, list[float]] = {}
    for outcome in outcomes:
        if outcome.done():
            how, when = outcome.result()
            ended.setdefault(how, []).append(when)
    waiting = sum(not outcome.done() for outcome in outcomes)
    say({"ended": ended, "waiting": waiting})
    for task in (told_to_stop, all_done):
        task.cancel()
    await asyncio.gather(told_to_stop, all_done, return_exceptions=True)


# ---------------------------------------------------------------------------------------------
# The measuring side: starts a server and the client processes, and watches both.
# ---------------------------------------------------------------------------------------------

class Lines:
    """Collects the output lines of several processes, each in its own reader thread."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[int, str | None]] = queue.Queue()

    def follow(self, key: int, stream: Any) -> None:
        def pump() -> None:
            for raw in stream:
                self.queue.put((key, raw.decode(errors="replace")))
            self.queue.put((key, None))  # end of output
        threading.Thread(target=pump, daemon=True).start()

    def get(self, deadline: float) -> tuple[int, str | None] | None:
        try:
            return self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None


AS_LIMITED = (  # starts a server with its address space limited to argv[1] MiB
    "import resource, runpy, sys; lim = int(sys.argv[1]) * 2**20; "
    "resource.setrlimit(resource.RLIMIT_AS, (lim, lim)); "
    "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')")


class ServerProcess:
    """One of the two servers, started on a free port; its stderr goes to a temporary file."""

    def __init__(self, kind: str, address_space_mib: int | None = None) -> None:
        script = [str(SERVERS[kind]), "--port", "0"]
        if address_space_mib:
            script = ["-c", AS_LIMITED, str(address_space_mib), *script]
        self.stderr = tempfile.TemporaryFile()
        self.popen = subprocess.Popen([sys.executable, "-u", *script], stdout=subprocess.PIPE,
                                      stderr=self.stderr, stdin=subprocess.DEVNULL)
        self.port = 0

    def wait_for_port(self, lines: Lines, key: int, timeout: float = 30.0) -> int:
        lines.follow(key, self.popen.stdout)
        deadline = time.monotonic() + timeout
        while (got := lines.get(deadline)) is not None:
            if got[1] is None:
                break
            if m := ADDRESS.search(got[1]):
                self.port = int(m.group(1))
                return self.port
        raise RuntimeError(f"the server did not start: {self.error_lines()[-5:]}")

    def request(self, method: str, path: str, body: bytes = b"",
                timeout: float = 10.0) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body or None)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def waiting(self) -> int | None:
        """How many requests the server says are waiting; None if it cannot say."""
        try:
            status, body = self.request("GET", "/stats")
            return json.loads(body)["waiting"] if status == 200 else None
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            return None

    def rss(self) -> int:
        import psutil  # only the measuring side needs it

        return psutil.Process(self.popen.pid).memory_info().rss

    def threads(self) -> int:
        import psutil

        return psutil.Process(self.popen.pid).num_threads()

    def error_lines(self) -> list[str]:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace").splitlines()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self.stderr.close()


def summarise_errors(lines: list[str]) -> dict[str, int]:
    """Count the server's error lines by kind, without addresses or tracebacks."""
    found: Counter[str] = Counter()
    for line in lines:
        if m := re.match(r"error serving .*?\): (.*)", line):
            found[m.group(1)] += 1
        elif line and not line[0].isspace() and not line.startswith("Traceback"):
            found[line[:200]] += 1
    return dict(found.most_common(5))


def split(n: int, per_process: int) -> list[int]:
    parts = max(1, math.ceil(n / per_process))
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def run_one(kind: str, n: int, *, per_process: int = PER_PROCESS,
            release_timeout: float = 60.0, address_space_mib: int | None = None,
            settle: float = 10.0) -> dict[str, Any]:
    """Hold `n` long polls on one server, release them with one publish; return the figures."""
    lines = Lines()
    server = ServerProcess(kind, address_space_mib)
    clients: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {"server": kind, "n": n, "address_space_mib": address_space_mib}
    problems: list[str] = []
    try:
        server.wait_for_port(lines, key=-1)
        server.waiting()  # one request first, so that the baseline includes the server warm
        rss_before = server.rss()
        started = time.monotonic()
        for i, count in enumerate(split(n, per_process)):
            client = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "_client", str(server.port),
                 str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            clients.append(client)
            lines.follow(i, client.stdout)

        # 1. Every client process opens its connections and says how it went.
        connected, connect_errors = 0, Counter[str]()
        reports = _collect(lines, len(clients), "connected", 60 + n / 50)
        for report in reports.values():
            connected += report["connected"]
            connect_errors.update(report["errors"])
        if len(reports) < len(clients):
            problems.append(f"{len(clients) - len(reports)} client process(es) did not report")
        if connect_errors:
            problems.append("clients: " + ", ".join(
                f"{count} x {what}" for what, count in connect_errors.most_common()))

        # 2. Wait until the server holds them all (or stops making progress).
        held = server.waiting()  # None while the server cannot say
        last_change, deadline = time.monotonic(), time.monotonic() + 60 + n / 100
        while (held or 0) < n and time.monotonic() < deadline \
                and time.monotonic() - last_change < settle:
            time.sleep(0.2)  # the server is another process: ask it again shortly
            now_held = server.waiting()
            if now_held is not None and now_held != held:
                held, last_change = now_held, time.monotonic()
        result["setup_s"] = round(time.monotonic() - started, 2)
        rss_held = server.rss()
        result["rss_before_mib"] = round(rss_before / 2**20, 1)
        result["rss_held_mib"] = round(rss_held / 2**20, 1)
        result["server_threads"] = server.threads()

        # 3. One publish; then every client process reports when each answer arrived.
        problems_so_far = len(problems)  # what is learnt about holding goes before this
        t0 = time.monotonic()
        try:
            status, body = server.request("POST", "/publish", MESSAGE, timeout=release_timeout)
            result["publish_reply"] = f"{status} {body.decode(errors='replace').strip()}"
            result["publish_ms"] = round((time.monotonic() - t0) * 1000, 1)
        except (OSError, http.client.HTTPException) as exc:
            result["publish_reply"] = f"failed: {type(exc).__name__}: {exc}"
            problems.append(f"the publish itself failed: {exc}")
        reports = _collect(lines, len(clients), "ended", release_timeout)
        if len(reports) < len(clients):
            for client in clients:  # "stop waiting and tell me what you have"
                _tell(client, b"stop\n")
            reports.update(_collect(lines, len(clients) - len(reports), "ended", 15))
        ended: dict[str, list[float]] = {}
        still_waiting = 0
        for report in reports.values():
            still_waiting += report["waiting"]
            for how, times in report["ended"].items():
                ended.setdefault(how, []).extend(times)
        answered = sorted((t - t0) * 1000 for t in ended.get("answered", []) if t >= t0)
        early = sum(t < t0 for times in ended.values() for t in times)
        holding = []
        if held is None:  # /stats never answered: count the requests still open at t0
            held = connected - early
            holding.append("GET /stats got no answer, so the clients counted the held requests")
        if held < n:
            holding.append(f"the server held only {held} of {n} requests")
        if early:
            holding.append(f"{early} requests ended before the publish")
        problems[problems_so_far:problems_so_far] = holding
        result["held"] = held
        result["kib_per_connection"] = (
            round((rss_held - rss_before) / held / 1024, 2) if held else None)
        result["answered"] = len(answered)
        if answered:
            result["release_p50_ms"] = round(percentile(answered, 0.50), 1)
            result["release_p99_ms"] = round(percentile(answered, 0.99), 1)
            result["release_max_ms"] = round(answered[-1], 1)
        if still_waiting:
            problems.append(f"{still_waiting} clients had no answer {release_timeout:.0f} s "
                            "after the publish")
        for how in ("closed", "bad answer"):
            late = sum(t >= t0 for t in ended.get(how, []))
            if late:
                problems.append(f"{late} requests {how} instead of the message")
    except RuntimeError as exc:
        problems.append(str(exc))
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
            client.wait()
        if server.popen.poll() is not None:
            problems.append(f"the server exited with code {server.popen.returncode}")
        result["server_errors"] = summarise_errors(server.error_lines())
        server.stop()
    result["problems"] = problems
    return result


def _tell(client: subprocess.Popen[bytes], data: bytes) -> None:
    try:
        assert client.stdin is not None
        client.stdin.write(data)
        client.stdin.flush()
    except OSError:
        pass  # it has already gone


def _collect(lines: Lines, count: int, key: str, timeout: float) -> dict[int, dict[str, Any]]:
    """Wait for `count` JSON reports that have `key`, one per client process, until timeout."""
    found: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(found) < count and (got := lines.get(deadline)) is not None:
        who, line = got
        if who < 0 or line is None:
            continue
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if key in report:
            found[who] = report
    return found


# ---------------------------------------------------------------------------------------------
# A series of runs, the machine it ran on, and the files it leaves behind.
# ---------------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    import psutil
    import twisted

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu or "unknown",
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "twisted": twisted.__version__,
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "thread_stack_kib": resource.getrlimit(resource.RLIMIT_STACK)[0] // 1024,
    }


def run_series(servers: list[str], ns: list[int], *, command: str,
               address_space_mib: int | None = None, release_timeout: float = 60.0,
               progress: bool = True) -> dict[str, Any]:
    runs = []
    for n in ns:
        for kind in servers:  # side by side: each N on both servers before the next N
            run = run_one(kind, n, address_space_mib=address_space_mib,
                          release_timeout=release_timeout)
            if progress:
                print(one_line(run), flush=True)
            runs.append(run)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command,
        "address_space_mib": address_space_mib,
        "runs": runs,
    }


def one_line(run: dict[str, Any]) -> str:
    parts = [f"{run['server']:>8} N={run['n']:<6} held={run.get('held')}",
             f"KiB/conn={run.get('kib_per_connection')}",
             f"threads={run.get('server_threads')}",
             f"release p50={run.get('release_p50_ms')} p99={run.get('release_p99_ms')} "
             f"max={run.get('release_max_ms')} ms",
             f"answered={run.get('answered')}"]
    if run["problems"]:
        parts.append("PROBLEMS: " + "; ".join(run["problems"]))
    return "  ".join(parts)


COLUMNS = [  # (heading, key) of the table the page shows
    ("server", "server"), ("N", "n"), ("held", "held"),
    ("KiB per held connection", "kib_per_connection"), ("server threads", "server_threads"),
    ("publish reply (ms)", "publish_ms"), ("release p50 (ms)", "release_p50_ms"),
    ("release p99 (ms)", "release_p99_ms"), ("release max (ms)", "release_max_ms"),
    ("answered", "answered"),
]


def table_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    return [["" if run.get(key) is None else str(run[key]) for _, key in COLUMNS]
            for run in runs]


def problems_of(run: dict[str, Any]) -> list[str]:
    return list(run["problems"]) + [f"the server said {count} x {what!r}"
                                    for what, count in run.get("server_errors", {}).items()]


def markdown_table(runs: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table, with a column of problems (the notebook shows this)."""
    head = [heading for heading, _ in COLUMNS] + ["problems"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run, row in zip(runs, table_rows(runs), strict=True):
        out.append("| " + " | ".join([*row, "; ".join(problems_of(run)) or "none"]) + " |")
    return "\n".join(out)


def problems_list(runs: list[dict[str, Any]]) -> str:
    """What went wrong in each run, as a Markdown list (the page includes it)."""
    items = [f"- **{run['server']}, N = {run['n']}**: " + "; ".join(problems_of(run)) + "."
             for run in runs if problems_of(run)]
    return "\n".join(items or ["No run reported a problem: every client got the message."])


def write_results(data: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([heading for heading, _ in COLUMNS])
        writer.writerows(table_rows(data["runs"]))
    (out / "summary.md").write_text(summary(data))
    (out / "problems.md").write_text(problems_list(data["runs"]) + "\n")
    plot(data, out / "plot.svg")


def summary(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        f"- **Run on** {data['date']}, with `{data['command']}`",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB of memory, "
        f"{m['os']}, {m['python']}, Twisted {m['twisted']}, "
        f"{m['open_files_limit']} open files per process, "
        f"{m['thread_stack_kib']} KiB stack reserved per thread (`ulimit -s`)",
    ]
    if data.get("address_space_mib"):
        lines.append(f"- **Each server's address space** limited to "
                     f"{data['address_space_mib']} MiB")
    top = max(run["n"] for run in data["runs"])
    at_top = {run["server"]: run for run in data["runs"] if run["n"] == top}
    threaded, evented = at_top.get("threaded"), at_top.get("twisted")
    if threaded and evented and threaded.get("kib_per_connection") and evented.get(
            "kib_per_connection"):
        ratio = threaded["kib_per_connection"] / evented["kib_per_connection"]
        lines.append(
            f"- **At N = {top}**: the threaded server held {threaded['held']} requests at "
            f"{threaded['kib_per_connection']} KiB each with {threaded['server_threads']} "
            f"threads; the Twisted server held {evented['held']} at "
            f"{evented['kib_per_connection']} KiB each with {evented['server_threads']} "
            f"thread(s): {ratio:.1f} times less memory per waiting client.")
    return "\n".join(lines) + "\n"


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "part01"  # stable ids: same data, same file
    import matplotlib.pyplot as plt

    fig, (mem, rel) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for kind, colour in (("threaded", "tab:red"), ("twisted", "tab:blue")):
        runs = [r for r in data["runs"] if r["server"] == kind]
        with_mem = [r for r in runs if r.get("kib_per_connection") is not None]
        mem.plot([r["n"] for r in with_mem], [r["kib_per_connection"] for r in with_mem],
                 "o-", color=colour, label=kind)
        with_rel = [r for r in runs if r.get("release_max_ms") is not None]
        rel.plot([r["n"] for r in with_rel], [r["release_max_ms"] for r in with_rel], "o-",
                 color=colour, label=f"{kind}, last client")
        rel.plot([r["n"] for r in with_rel], [r["release_p50_ms"] for r in with_rel], "o--",
                 color=colour, alpha=0.6, label=f"{kind}, median client")
    mem.set(xscale="log", xlabel="N held connections", ylabel="KiB of server memory each",
            title="Memory per held connection")
    mem.set_ylim(bottom=0)
    rel.set(xscale="log", yscale="log", xlabel="N held connections",
            ylabel="ms from the publish", title="Time to release all N with one publish")
    for ax in (mem, rel):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.savefig(path, metadata={"Date": None})  # and no timestamp
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_client"]:
        asyncio.run(hold_and_wait(int(argv[1]), int(argv[2])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="threaded,twisted",
                        help="comma-separated, from: " + ", ".join(SERVERS))
    parser.add_argument("--n", default="100,1000,5000,10000,19000",
                        help="comma-separated numbers of connections to hold")
    parser.add_argument("--out", type=Path, help="write the results files into this folder")
    parser.add_argument("--render", type=Path, metavar="FOLDER",
                        help="measure nothing: rewrite the table, summary and plot in FOLDER "
                             "from its results.json")
    parser.add_argument("--address-space", type=int, metavar="MIB",
                        help="limit each server's address space (as a 32-bit process was)")
    parser.add_argument("--release-timeout", type=float, default=120.0, metavar="SECONDS",
                        help="how long the clients may wait for the message after the publish")
    args = parser.parse_args(argv)
    if args.render:
        write_results(json.loads((args.render / "results.json").read_text()), args.render)
        return 0
    servers = args.servers.split(",")
    if unknown := set(servers) - set(SERVERS):
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    ns = [int(n) for n in args.n.split(",")]
    script = os.path.relpath(Path(__file__).resolve(), Path.cwd())
    command = shlex.join(["python", script, *argv])
    data = run_series(servers, ns, command=command, address_space_mib=args.address_space,
                      release_timeout=args.release_timeout)
    if args.out:
        write_results(data, args.out)
        print(f"wrote {args.out}/: results.json, table.csv, summary.md, problems.md, plot.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
