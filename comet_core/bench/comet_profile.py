"""Run ``python -m comet_core ARGS`` with a profiler that signals switch on and off.

``bench comet --profile`` starts `serve` through this module so that only the release is
profiled, not the minutes of setting up sessions before it: SIGUSR1 starts cProfile and
starts timing the garbage collector (through `gc.callbacks`); SIGUSR2 stops both and
writes the statistics to ``$COMET_PROFILE_OUT`` (cProfile's format, readable with
`pstats`) and the collector's figures to the same name plus ``.gc.json``. Python runs
signal handlers in the main thread, which is the reactor's, so the profile covers the
reactor's work.
"""

from __future__ import annotations

import cProfile
import gc
import json
import os
import signal
import sys
import time
from typing import Any

from comet_core.cli import main

profiler = cProfile.Profile()
collections: dict[int, list[float]] = {}  # generation -> [count, seconds]
_started: dict[str, float] = {}


def _gc_timer(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started["t"] = time.perf_counter()
    elif "t" in _started:
        entry = collections.setdefault(info["generation"], [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - _started.pop("t")


def _on(signum: int, frame: Any) -> None:
    collections.clear()
    gc.callbacks.append(_gc_timer)
    profiler.enable()


def _off(signum: int, frame: Any) -> None:
    profiler.disable()
    if _gc_timer in gc.callbacks:
        gc.callbacks.remove(_gc_timer)
    out = os.environ.get("COMET_PROFILE_OUT", "comet-profile.pstats")
    profiler.dump_stats(out)
    figures = {str(g): {"collections": c, "seconds": round(s, 4)}
               for g, (c, s) in sorted(collections.items())}
    with open(out + ".gc.json", "w") as f:
        json.dump(figures, f)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _on)
    signal.signal(signal.SIGUSR2, _off)
    sys.exit(main(sys.argv[1:]))
