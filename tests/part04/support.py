"""What the Part 4 and Part 5 tests share: `serve` on free ports with a throwaway site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import running

SERVING = re.compile(rb"Serving the site at http://(\d+\.\d+\.\d+\.\d+):(\d+)/")
STOMP = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")


@contextmanager
def serve(tmp_path: Path, *args: str) -> Iterator[tuple[str, int]]:
    """`python -m comet_core serve` on free ports; yields (base URL, STOMP port)."""
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "docs" / "index.html").write_text("<p>test site</p>")
    with running(["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site),
                  *args]) as process:
        http = process.wait_for(SERVING)
        stomp = process.wait_for(STOMP)
        yield f"http://{http.group(1).decode()}:{int(http.group(2))}", int(stomp.group(2))
        assert process.popen.poll() is None, b"".join(process.output)[-3000:]
