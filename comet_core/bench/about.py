"""What every benchmark report records about its run: the machine and the command.

Paths are reduced to their names, so a checked-in result never names a folder of the
machine it ran on.
"""

from __future__ import annotations

import os
import platform
import resource
import shlex
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """CPU model, cores, Python, kernel, open-file limit and load: enough to compare runs."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "open_files": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "load_before": load()}


def load() -> str:
    """The load averages, as `uptime` prints them: a busy machine explains a slow run."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def command_line(bench: str, argv: list[str]) -> str:
    """`python -m comet_core bench BENCH ...` as typed, with any path reduced to its name."""
    words = ["python", "-m", "comet_core", "bench", bench]
    words += [Path(a).name if os.path.isabs(a) else a for a in argv]
    return shlex.join(words)
