"""STOMP broker throughput and latency: ours against RabbitMQ's STOMP plugin and CoilMQ.

Scenarios (each against each broker, in the same run):

- topic fan-out: 1 publisher to 1 and to 10 subscribers of one `/topic/...`;
- queue: 1 producer to 1 consumer of a `/queue/...` that ACKs each message
  (`client-individual`);

each with the publisher pipelined (no receipt until the end) and receipt-paced (a receipt
every K messages, waited for before sending more: the only load some brokers survive).
Bodies are 100 bytes carrying their send time; latency is measured per delivered message.
The clients are raw-socket processes (see `stomp_load`); their CPU use is reported so that
a client-bound figure is visible as one. Every wait has a deadline: a broker that dies or
stalls is reported, and the run goes on.
"""

from __future__ import annotations

import argparse
import array
import datetime as dt
import json
import multiprocessing as mp
import queue
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from comet_core.bench import RESULTS
from comet_core.bench.about import command_line, machine
from comet_core.bench.brokers import Login, Running, Unavailable, start
from comet_core.bench.report import fmt, markdown_table
from comet_core.bench.report import text_table as report_table
from comet_core.bench.report import write as save
from comet_core.bench.stomp_load import Target, publish, subscribe

BROKERS = ("comet", "rabbitmq", "coilmq")
CLIENT_BOUND = 0.85  # a client process busier than this may be what limits the figure


@dataclass(frozen=True)
class Scenario:
    kind: str  # "topic" or "queue"
    subscribers: int
    pace: int  # 0: pipelined; K: a receipt every K messages

    @property
    def name(self) -> str:
        arrow = f"1→{self.subscribers}"
        mode = "pipelined" if not self.pace else f"receipt every {self.pace}"
        what = "topic" if self.kind == "topic" else "queue, client-individual ack"
        return f"{what} {arrow}, {mode}"

    @property
    def key(self) -> str:
        mode = "pipelined" if not self.pace else f"paced{self.pace}"
        return f"{self.kind}-{self.subscribers}-{mode}"


@dataclass
class Settings:
    messages: int
    duration: float
    pace: int
    batch: int
    stall: float
    timeout: float
    sub_procs: int


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    modes = {"pipelined": [0], "paced": [args.pace], "both": [args.pace, 0]}[args.mode]
    out = [Scenario("topic", n, pace) for n in args.subscribers for pace in modes]
    if not args.no_queue:
        out += [Scenario("queue", 1, pace) for pace in modes]
    return out


# --- one run ---------------------------------------------------------------------------------


def run_scenario(broker: Running, sc: Scenario, s: Settings) -> dict[str, Any]:
    """Drive one scenario against a running broker; the figures, or what went wrong."""
    ctx = mp.get_context("spawn")
    results: Any = ctx.Queue()
    stop = ctx.Event()
    destination = f"/{sc.kind}/bench-{uuid.uuid4().hex[:12]}"
    target = Target(broker.host, broker.port, broker.login.login, broker.login.passcode,
                    broker.login.vhost, broker.login.versions, destination,
                    ack="client-individual" if sc.kind == "queue" else "auto",
                    stall=s.stall, deadline=s.timeout,
                    sample_every=sc.subscribers)  # about one latency per message sent
    procs = max(1, min(s.sub_procs, sc.subscribers))
    shares = [sc.subscribers // procs + (i < sc.subscribers % procs) for i in range(procs)]
    workers = [ctx.Process(target=subscribe, args=(target, n, results, stop), daemon=True)
               for n in shares]
    out: dict[str, Any] = {"broker": broker.name, "scenario": sc.key, "name": sc.name,
                           "subscribers": sc.subscribers, "pace": sc.pace}
    cpu0 = broker.cpu_seconds()
    try:
        for w in workers:
            w.start()
        ready = 0
        while ready < procs:
            kind, value = results.get(timeout=s.stall + 30)
            if kind != "ready":
                return {**out, "status": f"failed: {value}"}
            ready += 1
        publisher = ctx.Process(target=publish, daemon=True, args=(
            target, s.messages, s.duration, sc.pace, s.batch, results))
        workers.append(publisher)
        started = time.monotonic()
        publisher.start()
        pub, subs = None, []
        deadline = time.monotonic() + s.duration + s.timeout + 30
        while pub is None or len(subs) < procs:
            left = deadline - time.monotonic()
            if left <= 0:
                return {**out, "status": "timed out (a client never reported)"}
            try:
                kind, value = results.get(timeout=min(left, 1.0))
            except queue.Empty:
                if not broker.alive():
                    stop.set()  # subscribers report what they have
                continue
            if kind == "publisher":
                pub = value
                if pub["error"]:
                    stop.set()
            elif kind == "subscribers":
                subs.append(value)
    except queue.Empty:
        return {**out, "status": "timed out while subscribing"}
    finally:
        stop.set()
        for w in workers:
            if w.pid is None:  # never started
                continue
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
                w.join(timeout=5)
    cpu1, wall = broker.cpu_seconds(), time.monotonic() - started
    out.update(figures(sc, pub, subs))
    if cpu0 is not None and cpu1 is not None:
        out["broker_cpu"] = round((cpu1 - cpu0) / wall, 3)
    if not broker.alive():
        out["status"] = f"broker died ({broker.exit_status()}); " + out["status"]
    return out


def figures(sc: Scenario, pub: dict[str, Any], subs: list[dict[str, Any]]) -> dict[str, Any]:
    counts = [c for r in subs for c in r["counts"]]
    firsts = [f for r in subs for f in r["first_ns"] if f]
    lasts = [t for r in subs for t in r["last_ns"] if t]
    delivered = sum(counts)
    expected = pub["sent"] * (sc.subscribers if sc.kind == "topic" else 1)
    errors = [e for r in subs for e in r["errors"]]
    if pub["error"]:
        errors.insert(0, f"publisher: {pub['error']}")
    out: dict[str, Any] = {"sent": pub["sent"], "delivered": delivered, "expected": expected}
    if not lasts or not delivered:
        return {**out, "status": _what_went_wrong(delivered, expected, subs, errors)}
    elapsed = (max(lasts) - pub["first_ns"]) / 1e9
    out["elapsed"] = round(elapsed, 3)
    rate = delivered / elapsed
    complete = delivered == expected and all(d for r in subs for d in r["done"])
    if not complete or errors:  # a run that lost messages has no rate to compare, only a clue
        out["partial_rate"] = round(rate, 1)
        return {**out, "status": _what_went_wrong(delivered, expected, subs, errors)}
    out.update(rate=round(rate, 1), rate_per_subscriber=round(rate / sc.subscribers, 1))
    window = (max(lasts) - min(firsts)) / 1e9 or elapsed
    out["subscriber_cpu"] = round(sum(r["cpu"] for r in subs) / len(subs) / window, 3)
    if pub["wall"]:
        out["publisher_cpu"] = round(pub["cpu"] / pub["wall"], 3)
        out["publish_rate"] = round(pub["sent"] / pub["wall"], 1)
    lat = array.array("q")
    for r in subs:
        lat.frombytes(r["latencies"])
    if lat:
        ordered = sorted(lat)
        out["p50_ms"] = round(ordered[len(ordered) // 2] / 1e6, 2)
        out["p99_ms"] = round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1e6, 2)
    out["status"] = "ok"
    return out


def _what_went_wrong(delivered: int, expected: int, subs: list[dict[str, Any]],
                     errors: list[str]) -> str:
    why = [f"{delivered} of {expected} delivered"]
    if any(r["stalled"] for r in subs):
        why.append("stalled")
    if any(r["timed_out"] for r in subs):
        why.append("timed out")
    return "; ".join(why + errors[:3])


def client_bound(row: dict[str, Any]) -> bool:
    return max(row.get("subscriber_cpu", 0), row.get("publisher_cpu", 0)) >= CLIENT_BOUND


# --- the report ------------------------------------------------------------------------------


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ours ÷ each other broker, per scenario, where both produced a figure."""
    out = []
    ours = {r["scenario"]: r for r in rows if r["broker"] == "comet" and r.get("rate")}
    for r in rows:
        if r["broker"] != "comet" and r.get("rate") and r["scenario"] in ours:
            out.append({"scenario": r["scenario"], "name": r["name"], "versus": r["broker"],
                        "ratio": round(ours[r["scenario"]]["rate"] / r["rate"], 2)})
    return out


COLUMNS = ["scenario", "broker", "msg/s delivered", "per subscriber", "p50 ms", "p99 ms",
           "ours ÷ this", "broker CPU", "client CPU", "status"]
LEFT = {0, 1}  # scenario and broker: words; the rest are figures


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per run, grouped by scenario (in the order run), ours first in each group."""
    ratio = {(r["scenario"], r["versus"]): r["ratio"] for r in report["ratios"]}
    order = {key: i for i, key in enumerate(dict.fromkeys(
        r["scenario"] for r in report["results"]))}
    results = sorted(report["results"], key=lambda r: (
        order[r["scenario"]], BROKERS.index(r["broker"]) if r["broker"] in BROKERS else 9))
    rows = []
    for r in results:
        mark = "ours" if r["broker"] == "comet" else fmt(
            ratio.get((r["scenario"], r["broker"])), 2)
        client = max(r.get("subscriber_cpu", 0), r.get("publisher_cpu", 0))
        rows.append([r["name"], r["broker"], fmt(r.get("rate")),
                     fmt(r.get("rate_per_subscriber")), fmt(r.get("p50_ms"), 1),
                     fmt(r.get("p99_ms"), 1), mark,
                     f"{r['broker_cpu']:.0%}" if "broker_cpu" in r else "–",
                     f"{client:.0%}" + (" (client-bound?)" if client_bound(r) else "")
                     if "rate" in r else "–",
                     r["status"]])
    return rows


def text_table(report: dict[str, Any]) -> str:
    return report_table(COLUMNS, table_rows(report), LEFT)


def markdown(report: dict[str, Any]) -> str:
    """The results as a Markdown page fragment (the docs include it as generated)."""
    m = report["machine"]
    out = [f"Run on {report['date']}: {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
           f"{m['system']}.", "", f"Command: `{report['command']}`", "",
           *markdown_table(COLUMNS, table_rows(report), LEFT)]
    if report["skipped"]:
        out += ["", "Not measured: " + "; ".join(f"{k}: {v}" for k, v in
                                                report["skipped"].items()) + "."]
    return "\n".join(out) + "\n"


# --- the command -----------------------------------------------------------------------------


def _subscriber_counts(text: str) -> list[int]:
    return [int(n) for n in text.split(",")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brokers", default=",".join(BROKERS),
                        help="comma-separated, from: comet, rabbitmq, coilmq (default: all)")
    parser.add_argument("--messages", type=int, default=1_000_000,
                        help="most messages to publish per run (default 1000000)")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="most seconds to publish for per run (default 5)")
    parser.add_argument("--subscribers", type=_subscriber_counts, default=[1, 10],
                        help="topic fan-out widths, comma-separated (default 1,10)")
    parser.add_argument("--mode", choices=["pipelined", "paced", "both"], default="both",
                        help="publisher mode (default both)")
    parser.add_argument("--pace", type=int, default=100,
                        help="paced mode: a receipt every K messages (default 100)")
    parser.add_argument("--no-queue", action="store_true", help="skip the queue scenarios")
    parser.add_argument("--batch", type=int, default=50,
                        help="messages per socket write in the publisher (default 50)")
    parser.add_argument("--sub-procs", type=int, default=1,
                        help="processes the subscribers are spread over (default 1)")
    parser.add_argument("--stall", type=float, default=10.0,
                        help="seconds without progress that count as a stall (default 10)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds a run may take after publishing ends (default 60)")
    parser.add_argument("--rabbitmq", default="127.0.0.1:61613", metavar="HOST:PORT",
                        help="RabbitMQ's STOMP plugin (default 127.0.0.1:61613)")
    parser.add_argument("--rabbitmq-login", default="guest:guest", metavar="USER:PASS")
    parser.add_argument("--rabbitmq-vhost", default="/")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="write the figures, machine and command line as JSON")
    parser.add_argument("--markdown", type=Path, metavar="PATH",
                        help="write the results table as Markdown")
    parser.add_argument("--from-json", type=Path, metavar="PATH",
                        help="run nothing: print (and with --markdown write) the table of "
                             "an earlier run's JSON")
    parser.add_argument("--save", action="store_true",
                        help=f"write both to {RESULTS.parent.name}/{RESULTS.name}/"
                             "stomp-DATE.json and .md (the docs show the latest)")


def run(args: argparse.Namespace) -> int:
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        print(text_table(report))
        write(report, args)
        return 0
    names = [b.strip() for b in args.brokers.split(",") if b.strip()]
    unknown = set(names) - set(BROKERS)
    if unknown:
        print(f"error: unknown broker(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    user, _, password = args.rabbitmq_login.partition(":")
    rabbit_login = Login(user, password, args.rabbitmq_vhost)
    settings = Settings(args.messages, args.duration, args.pace, args.batch, args.stall,
                        args.timeout, args.sub_procs)
    plan = scenarios(args)
    report: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "command": command_line("stomp", sys.argv[3:] if _from_cli() else []),
        "settings": asdict(settings), "results": [], "skipped": {}, "ratios": [],
    }
    for name in names:
        for sc in plan:
            try:
                broker = start(name, args.rabbitmq, rabbit_login)
            except Unavailable as exc:
                print(f"skipping {name}: {exc}", flush=True)
                report["skipped"][name] = str(exc)
                break
            print(f"{name}: {sc.name} ...", end=" ", flush=True)
            try:
                row = run_scenario(broker, sc, settings)
            finally:
                broker.stop()
            report["results"].append(row)
            print(f"{fmt(row.get('rate'))} msg/s, {row['status']}", flush=True)
    report["ratios"] = ratios(report["results"])
    print()
    print(text_table(report))
    for r in report["results"]:
        if client_bound(r):
            print(f"note: {r['broker']}, {r['name']}: a client process was "
                  f"{max(r.get('subscriber_cpu', 0), r.get('publisher_cpu', 0)):.0%} busy; "
                  "this figure may be limited by the load generator, not the broker")
    write(report, args)
    return 0 if any(r.get("rate") for r in report["results"]) else 1


def _from_cli() -> bool:
    return sys.argv[1:3] == ["bench", "stomp"]


def write(report: dict[str, Any], args: argparse.Namespace) -> None:
    save(report, markdown(report), args, "stomp")
