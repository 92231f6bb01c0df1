"""Run a benchmark against our code and a baseline, side by side: `bench stomp`."""

from __future__ import annotations

import argparse
import importlib

from comet_core.bench import BENCHES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, module_name in BENCHES.items():
        module = importlib.import_module(module_name)
        summary = (module.__doc__ or "").strip().splitlines()[0]
        bench = sub.add_parser(name, help=summary, description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(bench)
        bench.set_defaults(bench_run=module.run)


def run(args: argparse.Namespace) -> int:
    return args.bench_run(args)
