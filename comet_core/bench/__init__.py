"""Benchmarks that run the same load against our code and against a baseline, side by side.

Each benchmark is a module here with `add_arguments(parser)` and `run(args) -> int`, listed
in `BENCHES`; `python -m comet_core bench NAME` runs it. Results that the docs show are
written by the benchmarks themselves into `comet_core/bench/results/`.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

# bench name -> module; a later part adds e.g. "longpoll": "comet_core.bench.longpoll".
BENCHES: dict[str, str] = {
    "stomp": "comet_core.bench.stomp",
    "comet": "comet_core.bench.comet",
    "fanout": "comet_core.bench.fanout",
}
