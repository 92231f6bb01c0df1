"""Comet fan-out: N idle sessions held by `serve`, one message released to all of them.

For each N, each transport (long-poll, SSE, XHR streaming) and each server, in the same run:

- comet: our `serve`. Every client opens a comet session, sends a STOMP CONNECT and a
  SUBSCRIBE to one topic through it, and waits on the transport; one STOMP SEND on the
  broker's TCP port then releases the message to all N.
- baseline: Part 1's minimal Twisted long-poll server (long-poll only): GET /poll held,
  one POST /publish releases them.
- nchan: nginx with the Nchan module, one worker; one POST to the channel releases them.

It prints the server's memory per held session (growth of its resident memory while the
N were set up, divided by N), the time from the publish until each client had the
message (p50, p99, max; taken on the client side with `time.monotonic()`, the one
monotonic clock every process on a Linux machine shares), and what went wrong. The
clients run in other processes (`comet_clients`), a few thousand each, so the server's
open-file limit is the only ceiling on N. They share the machine's cores with the server:
the figures are a comparison under the same conditions, not any server's best.
Every server is started afresh for each run and always stopped; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import IO, Any

from comet_core.bench import RESULTS
from comet_core.bench.about import command_line, load, machine
from comet_core.bench.comet_servers import Baseline, CometServe, Nchan, Server, Unavailable
from comet_core.bench.report import fmt, markdown_table
from comet_core.bench.report import text_table as report_table
from comet_core.bench.report import write as save

TRANSPORTS = ("longpoll", "sse", "stream")
SERVERS = ("comet", "baseline", "nchan")
TRANSPORT_NAMES = {"longpoll": "long-poll", "sse": "SSE", "stream": "XHR streaming"}
PER_PROCESS = 5000  # client connections per client process: far under the open-file limit
QUIET_CPU = 0.03  # share of a core under which the server counts as idle
#: The targets of issue 4, checked (never assumed) from the figures of a run.
TARGET_HELD = 19_000
TARGET_BYTES = 10_000  # "10 KB" per held session
TARGET_FANOUT = 9_000


class Clients:
    """The client processes of one run, and their JSON report lines (read by threads)."""

    def __init__(self, spec: dict[str, Any], n: int, per_process: int) -> None:
        parts = max(1, math.ceil(n / per_process))
        shares = [n // parts + (i < n % parts) for i in range(parts)]
        self.lines: queue.Queue[tuple[int, dict[str, Any] | None]] = queue.Queue()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stderr: list[IO[bytes]] = []
        for i, count in enumerate(shares):
            argv = [sys.executable, "-m", "comet_core.bench.comet_clients",
                    json.dumps({**spec, "count": count})]
            err = tempfile.TemporaryFile()
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err)
            self.procs.append(proc)
            self.stderr.append(err)
            threading.Thread(target=self._pump, args=(i, proc.stdout), daemon=True).start()

    def _pump(self, key: int, stream: IO[bytes]) -> None:
        for raw in stream:
            try:
                self.lines.put((key, json.loads(raw)))
            except ValueError:
                continue
        self.lines.put((key, None))

    def collect(self, key: str, timeout: float) -> list[dict[str, Any]]:
        """One report with `key` from each process, or as many as came before the deadline."""
        found: dict[int, dict[str, Any]] = {}
        ended: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(found) + len(ended - found.keys()) < len(self.procs):
            try:
                who, report = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if report is None:
                ended.add(who)
            elif key in report:
                found[who] = report
        return list(found.values())

    def tell(self, line: bytes) -> None:
        for proc in self.procs:
            try:
                assert proc.stdin is not None
                proc.stdin.write(line)
                proc.stdin.flush()
            except OSError:
                pass  # it has already gone

    def last_error(self) -> str | None:
        """The last line a client process wrote on stderr (a traceback's), if any."""
        for err in self.stderr:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            if lines:
                return lines[-1][:300]
        return None

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for err in self.stderr:
            err.close()


def start_server(name: str, topic: str, profile: Path | None) -> Server:
    if name == "comet":
        return CometServe(topic, profile)
    if name == "baseline":
        return Baseline()
    return Nchan(topic)


def wait_quiet(server: Server, expect: int, timeout: float) -> tuple[int | None, float]:
    """Wait until the server holds `expect` (when it can say) and its CPU is idle.

    Returns what it said it holds and how long the wait took."""
    started = time.monotonic()
    deadline = started + timeout
    held = server.held()
    cpu = server.cpu_seconds()
    while time.monotonic() < deadline and server.alive():
        time.sleep(0.5)  # CPU use is measured over a window: this is that window
        now = server.cpu_seconds()
        busy, cpu = (now - cpu) / 0.5, now
        held = server.held()
        if busy < QUIET_CPU and (held is None or held >= expect):
            break
    return held, round(time.monotonic() - started, 1)


def run_one(name: str, transport: str, n: int, opts: argparse.Namespace,
            profile: Path | None = None) -> dict[str, Any]:
    """Hold `n` sessions of `transport` on server `name`, publish once; the figures."""
    row: dict[str, Any] = {"server": name, "transport": transport, "n": n}
    topic = "bench" + uuid.uuid4().hex[:10]
    marker = "RELEASE-" + uuid.uuid4().hex
    try:
        server = start_server(name, topic, profile)
    except Unavailable as exc:
        return {**row, "status": f"unavailable: {exc}"}
    except Exception as exc:  # a bug or a surprise: report it and go on
        return {**row, "status": f"failed to start: {type(exc).__name__}: {exc}"}
    clients: Clients | None = None
    try:
        spec = {"server": name, "transport": transport, "host": "127.0.0.1",
                "port": server.port, "marker": marker, "at_once": opts.at_once,
                "setup_timeout": opts.setup_timeout,
                "wait_timeout": opts.settle_timeout + opts.release_timeout + 60,
                **server.client_spec()}
        warm = Clients(spec, 1, 1)  # one session first, so that "before" has the server warm
        warm.collect("ready", 30)
        warm.tell(b"stop\n")
        warm.collect("arrived", 10)
        warm.stop()
        wait_quiet(server, 0, 10)
        rss_before = server.rss()

        started = time.monotonic()
        clients = Clients(spec, n, opts.per_process)
        ready = clients.collect("ready", opts.setup_timeout + 30)
        setup_errors: Counter[str] = Counter()
        for r in ready:
            setup_errors.update(r["errors"])
        missing = len(clients.procs) - len(ready)
        if missing:
            setup_errors[f"{missing} client process(es) never reported"] += 1
        held_by_clients = sum(r["ready"] for r in ready)
        said, settle = wait_quiet(server, held_by_clients, opts.settle_timeout)
        row["setup_s"] = round(time.monotonic() - started, 1)
        row["settle_s"] = settle
        rss_held = server.rss()
        row["held"] = held_by_clients if said is None else min(said, held_by_clients)
        if said is not None:
            row["server_says_held"] = said
        row["rss_before_mib"] = round(rss_before / 2**20, 1)
        row["rss_held_mib"] = round(rss_held / 2**20, 1)
        if row["held"]:
            per = (rss_held - rss_before) / row["held"]
            row["bytes_per_session"] = round(per)
            row["kib_per_session"] = round(per / 1024, 2)

        server.prepare_publish()
        cpu0 = server.cpu_seconds()
        if isinstance(server, CometServe):
            server.signal_profiler(True)
        t0 = server.publish(marker)
        reports = clients.collect("arrived", opts.release_timeout)
        if len(reports) < len(clients.procs):
            clients.tell(b"stop\n")  # "stop waiting and say what you have"
            late = clients.collect("arrived", 15)
            reports += late
        if isinstance(server, CometServe):
            server.signal_profiler(False)
        row["server_cpu_s"] = round(server.cpu_seconds() - cpu0, 2)
        clients.tell(b"stop\n")
        row["publish_reply"] = server.publish_reply(5)
        arrived = sorted((t - t0) * 1000 for r in reports for t in r["arrived"])
        errors: Counter[str] = Counter()
        for r in reports:
            errors.update(r["errors"])
        if len(reports) < len(ready):
            errors[f"{len(ready) - len(reports)} client process(es) never reported"] += 1
        if (len(reports) < len(clients.procs)) and (said_last := clients.last_error()):
            errors[f"a client process said: {said_last}"] += 1
        for what, count in setup_errors.items():  # a process that never said "arrived"
            errors[what] = max(errors[what], count)
        waiting = sum(r["waiting"] for r in reports)
        if waiting:
            errors[f"no message {opts.release_timeout:.0f} s after the publish"] += waiting
        row["received"] = len(arrived)
        row["repolls"] = sum(r.get("repolls", 0) for r in reports)
        row["client_cpu_ms"] = round(max((r.get("cpu_s", 0) for r in reports), default=0)
                                     * 1000)
        if arrived:
            row["first_ms"] = round(arrived[0], 1)
            row["p50_ms"] = round(percentile(arrived, 0.50), 1)
            row["p99_ms"] = round(percentile(arrived, 0.99), 1)
            row["max_ms"] = round(arrived[-1], 1)
        row["errors"] = dict(errors.most_common())
        if not server.alive():
            row["errors"][f"server exited ({server.process.returncode})"] = 1
        row["status"] = "ok" if row["received"] == n and not errors else "errors"
        if errors:
            row["server_log"] = server.last_log_lines()
    except Unavailable as exc:
        row["status"] = f"failed: {exc}"
    except Exception as exc:  # a bug or a surprise: report it, stop everything, go on
        row["status"] = f"failed: {type(exc).__name__}: {exc}"
    finally:
        if clients is not None:
            clients.stop()
        server.stop()
    return row


def median_run(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Of one server's runs of the same load, the one with the median p99 (a run without
    figures counts as the slowest), noting every run's p99 and how many had problems."""
    if len(rows) == 1:
        return rows[0]
    slowest = float("inf")
    ordered = sorted(rows, key=lambda r: r.get("p99_ms") or slowest)
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["runs"] = len(rows)
    chosen["p99_runs_ms"] = [r.get("p99_ms") for r in ordered]
    bad = sum(r["status"] != "ok" for r in rows)
    if bad:
        chosen["errors"] = {**chosen.get("errors", {}),
                            f"of {len(rows)} runs, {bad} had problems": bad}
        if chosen["status"] == "ok":
            chosen["status"] = "errors"
    return chosen


def percentile(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- the report ------------------------------------------------------------------------------


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each other server's p99 and memory divided by ours, for the same transport and N."""
    ours = {(r["transport"], r["n"]): r for r in rows if r["server"] == "comet"}
    out = []
    for r in rows:
        mine = ours.get((r["transport"], r["n"]))
        if r["server"] == "comet" or mine is None:
            continue
        entry: dict[str, Any] = {"transport": r["transport"], "n": r["n"], "versus": r["server"]}
        if r.get("p99_ms") and mine.get("p99_ms"):
            entry["p99"] = round(r["p99_ms"] / mine["p99_ms"], 2)
        if r.get("bytes_per_session") and mine.get("bytes_per_session"):
            entry["memory"] = round(r["bytes_per_session"] / mine["bytes_per_session"], 2)
        out.append(entry)
    return out


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 4's targets, each met, missed or not measured, from this run's figures."""
    ours = [r for r in rows if r["server"] == "comet"]
    out = []
    big = [r for r in ours if r["n"] >= TARGET_HELD]
    if big:
        best = max(r.get("held", 0) for r in big)
        out.append({"target": f"at least {TARGET_HELD:,} sessions held by one serve process",
                    "figure": ", ".join(f"{TRANSPORT_NAMES[r['transport']]}: "
                                        f"{r.get('held', 0):,}" for r in big),
                    "met": best >= TARGET_HELD})
    else:
        out.append({"target": f"at least {TARGET_HELD:,} sessions held", "figure": "not run",
                    "met": None})
    with_mem = [r for r in ours if r.get("bytes_per_session") is not None]
    if with_mem:
        top = max(r["n"] for r in with_mem)
        at_top = [r for r in with_mem if r["n"] == top]
        out.append({"target": f"at most {TARGET_BYTES:,} bytes of memory per held session",
                    "figure": ", ".join(f"{TRANSPORT_NAMES[r['transport']]}: "
                                        f"{r['bytes_per_session']:,} B at N = {top:,}"
                                        for r in at_top),
                    "met": all(r["bytes_per_session"] <= TARGET_BYTES for r in at_top)})
    fan = {r["server"]: r for r in rows
           if r["transport"] == "longpoll" and r["n"] == TARGET_FANOUT}
    mine, nchan = fan.get("comet"), fan.get("nchan")
    if mine and nchan and mine.get("p99_ms") and nchan.get("p99_ms"):
        out.append({"target": f"long-poll fan-out to {TARGET_FANOUT:,}: p99 no slower than "
                              "nginx + Nchan",
                    "figure": f"ours {mine['p99_ms']:,.0f} ms, Nchan {nchan['p99_ms']:,.0f} ms",
                    "met": mine["p99_ms"] <= nchan["p99_ms"]
                    and mine.get("status") == "ok"})
    else:
        out.append({"target": f"long-poll fan-out to {TARGET_FANOUT:,} vs nginx + Nchan",
                    "figure": "not measured in this run", "met": None})
    return out


COLUMNS = ["transport", "N", "server", "held", "bytes per session", "first ms", "p50 ms",
           "p99 ms", "p99 of each run ms",
           "max ms", "received", "server CPU ms", "client CPU ms", "p99 ÷ ours",
           "memory ÷ ours", "problems"]
LEFT = {0, 2}  # transport and server: words; the rest are figures


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    ratio = {(r["transport"], r["n"], r["versus"]): r for r in report["ratios"]}
    order = {key: i for i, key in enumerate(dict.fromkeys(
        (r["transport"], r["n"]) for r in report["results"]))}
    results = sorted(report["results"], key=lambda r: (
        order[(r["transport"], r["n"])], SERVERS.index(r["server"])))
    rows = []
    for r in results:
        rel = ratio.get((r["transport"], r["n"], r["server"]), {})
        ours = r["server"] == "comet"
        problems = "; ".join(f"{count:,} × {what}" for what, count in r.get("errors", {}).items())
        if r["status"] not in ("ok", "errors"):
            problems = r["status"]
        rows.append([TRANSPORT_NAMES[r["transport"]], f"{r['n']:,}", r["server"],
                     fmt(r.get("held")), fmt(r.get("bytes_per_session")),
                     fmt(r.get("first_ms")), fmt(r.get("p50_ms")), fmt(r.get("p99_ms")),
                     " · ".join(fmt(v) for v in r.get("p99_runs_ms", [r.get("p99_ms")])),
                     fmt(r.get("max_ms")),
                     fmt(r.get("received")),
                     fmt(r["server_cpu_s"] * 1000 if "server_cpu_s" in r else None),
                     fmt(r.get("client_cpu_ms")),
                     "ours" if ours else fmt(rel.get("p99"), 2),
                     "ours" if ours else fmt(rel.get("memory"), 2),
                     problems or "none"])
    return rows


def text_table(report: dict[str, Any]) -> str:
    return report_table(COLUMNS, table_rows(report), LEFT)


def target_lines(report: dict[str, Any]) -> list[str]:
    verdict = {True: "reached", False: "not reached", None: "not measured"}
    return [f"{verdict[t['met']]}: {t['target']} ({t['figure']})" for t in report["targets"]]


def setting_line(report: dict[str, Any]) -> str:
    m = report["machine"]
    repeat = report["settings"].get("repeat", 1)
    runs = (f" Each load ran {repeat} times, the servers taking turns; each row is the "
            "server's run with the median p99." if repeat > 1 else "")
    return (f"{m['cores']} cores shared by the server and {report['settings']['client_procs']}"
            f" (per N) client processes of at most {report['settings']['per_process']:,} "
            f"clients each; load average before the run {m['load_before']}, after "
            f"{m['load_after']}.{runs}")


def markdown(report: dict[str, Any]) -> str:
    """The results as a Markdown fragment (the docs page includes the file as written)."""
    m = report["machine"]
    out = [f"Run on {report['date']}: {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
           f"{m['system']}, {m['open_files']:,} open files per process. "
           + setting_line(report), "", f"Command: `{report['command']}`", "",
           *markdown_table(COLUMNS, table_rows(report), LEFT)]
    out += ["", "Goals, as this run measured them:", ""]
    out += [f"- {line}" for line in target_lines(report)]
    if report.get("skipped"):
        out += ["", "Not measured: " + "; ".join(f"{k}: {v}" for k, v in
                                                report["skipped"].items()) + "."]
    return "\n".join(out) + "\n"


# --- the command -----------------------------------------------------------------------------


def _names(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        names = [w.strip() for w in text.split(",") if w.strip()]
        unknown = set(names) - set(allowed)
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"choose from {', '.join(allowed)} (got {text!r})")
        return names
    return parse


def _counts(text: str) -> list[int]:
    return [int(n) for n in text.split(",")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=_counts, default=[TARGET_FANOUT, TARGET_HELD],
                        help="sessions to hold, comma-separated (default 9000,19000)")
    parser.add_argument("--transports", type=_names(TRANSPORTS), default=list(TRANSPORTS),
                        help="comma-separated, from: longpoll, sse, stream (default all)")
    parser.add_argument("--servers", type=_names(SERVERS), default=list(SERVERS),
                        help="comma-separated, from: comet, baseline, nchan (default all)")
    parser.add_argument("--per-process", type=int, default=PER_PROCESS,
                        help=f"clients per client process (default {PER_PROCESS})")
    parser.add_argument("--at-once", type=int, default=64,
                        help="sessions each client process sets up at a time (default 64)")
    parser.add_argument("--setup-timeout", type=float, default=300.0,
                        help="seconds the clients may take to set up (default 300)")
    parser.add_argument("--settle-timeout", type=float, default=60.0,
                        help="seconds to wait for the server to go idle (default 60)")
    parser.add_argument("--release-timeout", type=float, default=60.0,
                        help="seconds the clients wait for the message (default 60)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="run each load K times, the servers taking turns, and report "
                             "each server's run with the median p99 (default 1)")
    parser.add_argument("--profile", type=Path, metavar="PREFIX",
                        help="profile `serve` during each release (cProfile and the garbage "
                             "collector): writes PREFIX-TRANSPORT-N.pstats and .gc.json")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="write the figures, machine and command line as JSON")
    parser.add_argument("--markdown", type=Path, metavar="PATH",
                        help="write the results table as Markdown")
    parser.add_argument("--save", action="store_true",
                        help=f"write both to {RESULTS.parent.name}/{RESULTS.name}/"
                             "comet-DATE.json and .md (the docs show the latest)")
    parser.add_argument("--from-json", type=Path, metavar="PATH",
                        help="run nothing: print (and with --markdown write) the table of "
                             "an earlier run's JSON")


def run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        print("error: --repeat must be at least 1", file=sys.stderr)
        return 2
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        print(text_table(report))
        print("\n".join(target_lines(report)))
        write(report, args)
        return 0
    client_procs = sorted({max(1, math.ceil(n / args.per_process)) for n in args.n})
    report: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command_line(
            "comet", sys.argv[3:] if sys.argv[1:3] == ["bench", "comet"] else []),
        "settings": {"per_process": args.per_process, "at_once": args.at_once,
                     "client_procs": "/".join(map(str, client_procs)),
                     "release_timeout": args.release_timeout, "repeat": args.repeat},
        "results": [], "skipped": {},
    }
    print(f"Clients and servers share this machine's {os.cpu_count()} cores; load average "
          f"now {load()}.", flush=True)
    for n in args.n:
        for transport in args.transports:
            runs: dict[str, list[dict[str, Any]]] = {}
            for turn in range(args.repeat):  # the servers take turns, so noise hits all
                for name in args.servers:
                    if name == "baseline" and transport != "longpoll":
                        continue  # Part 1's server has long-poll only
                    if name in report["skipped"]:
                        continue
                    print(f"{name}, {TRANSPORT_NAMES[transport]}, N = {n:,}"
                          + (f", run {turn + 1} of {args.repeat}" if args.repeat > 1 else "")
                          + " ...", end=" ", flush=True)
                    profile = None
                    if args.profile and name == "comet":
                        profile = args.profile.parent.resolve() / (
                            f"{args.profile.name}-{transport}-{n}.pstats")
                    row = run_one(name, transport, n, args, profile)
                    if row["status"].startswith("unavailable"):
                        report["skipped"][name] = row["status"].removeprefix("unavailable: ")
                        print(row["status"], flush=True)
                        continue
                    runs.setdefault(name, []).append(row)
                    print(one_line(row), flush=True)
                    if profile is not None and profile.exists():
                        print(profile_summary(profile), flush=True)
            report["results"] += [median_run(rows) for rows in runs.values()]
    report["machine"]["load_after"] = load()
    report["ratios"] = ratios(report["results"])
    report["targets"] = targets(report["results"])
    print()
    print(text_table(report))
    print()
    print(setting_line(report))
    for line in ratio_lines(report):
        print(line)
    for line in target_lines(report):
        print(line)
    write(report, args)
    return 0 if any(r.get("received") for r in report["results"]) else 1


def one_line(row: dict[str, Any]) -> str:
    parts = [f"held {fmt(row.get('held'))}", f"{fmt(row.get('bytes_per_session'))} B/session",
             f"first {fmt(row.get('first_ms'))} p50 {fmt(row.get('p50_ms'))} "
             f"p99 {fmt(row.get('p99_ms'))} "
             f"max {fmt(row.get('max_ms'))} ms",
             f"received {fmt(row.get('received'))}",
             f"server CPU {fmt(row.get('server_cpu_s'), 2)} s in the release",
             f"setup {fmt(row.get('setup_s'), 1)} s"]
    if row.get("errors"):
        parts.append("errors: " + "; ".join(f"{c} × {w}" for w, c in row["errors"].items()))
    if row["status"] not in ("ok", "errors"):
        parts.append(row["status"])
    return ", ".join(parts)


def ratio_lines(report: dict[str, Any]) -> list[str]:
    out = []
    for r in report["ratios"]:
        words = []
        if "p99" in r:
            words.append(f"p99 {r['p99']:.2f}× ours")
        if "memory" in r:
            words.append(f"memory per session {r['memory']:.2f}× ours")
        if words:
            out.append(f"{r['versus']}, {TRANSPORT_NAMES[r['transport']]}, N = {r['n']:,}: "
                       + ", ".join(words))
    return out


def profile_summary(path: Path, top: int = 25) -> str:
    """The functions that took the most time during the release, and the collector's share."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    gc_file = Path(str(path) + ".gc.json")
    if gc_file.exists():
        out.write("garbage collector during the release: " + gc_file.read_text() + "\n")
    return out.getvalue()


def write(report: dict[str, Any], args: argparse.Namespace) -> None:
    save(report, markdown(report), args, "comet")
