"""The one entry point: `python -m comet_core COMMAND`.

Each command is a module in `comet_core.commands` with a docstring (its help line),
`add_arguments(parser)` and `run(args) -> int`. Later parts add commands by adding modules,
so this file never has to change.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Sequence

from comet_core import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m comet_core",
        description="Comet, step by step: a Comet server and STOMP broker on Twisted.",
    )
    parser.add_argument("--version", action="version", version=f"comet_core {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        summary = (module.__doc__ or "").strip().splitlines()[0]
        cmd = sub.add_parser(info.name, help=summary, description=module.__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)
