"""How a benchmark shows its report: numbers, a text table for the terminal, a Markdown
table for the docs, and the JSON and Markdown files a run leaves (`--save` puts them in
`comet_core/bench/results/`, where the docs pages include them)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from comet_core.bench import RESULTS


def fmt(v: Any, digits: int = 0) -> str:
    """A figure with thousands separators; a dash for one that is missing."""
    if v is None:
        return "–"
    if isinstance(v, float | int):
        return f"{v:,.{digits}f}"
    return str(v)


def text_table(columns: list[str], rows: list[list[str]], left: set[int]) -> str:
    """Aligned columns: those in `left` to the left, the others to the right; the last
    one (free text) as it is."""
    rows = [columns, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns) - 1)]
    lines = []
    for row in rows:
        cells = [c.ljust(w) if i in left else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)


def markdown_table(columns: list[str], rows: list[list[str]], left: set[int]) -> list[str]:
    """The lines of a Markdown table, aligned as `text_table` aligns it."""
    rule = ["---" if i in left or i == len(columns) - 1 else "---:"
            for i in range(len(columns))]
    return ["| " + " | ".join(columns) + " |", "|" + "|".join(rule) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def write(report: dict[str, Any], markdown: str, args: argparse.Namespace,
          name: str) -> None:
    """Write the report's JSON and its Markdown where `args` say (``--json``,
    ``--markdown``, or ``--save``: ``results/NAME-DATE.*``); a report read back with
    ``--from-json`` is not written again as JSON."""
    json_path, md_path = args.json, args.markdown
    if getattr(args, "save", False):
        stem = RESULTS / f"{name}-{report['date'][:10]}"
        json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    if json_path and not getattr(args, "from_json", None):
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {json_path}")
    if md_path:
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(markdown)
        print(f"wrote {md_path}")
