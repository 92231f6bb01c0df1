"""A `state-diagram` directive: draws a state machine from the table in the code itself.

The table is any mapping ``{state: {event: next_state}}`` (states may be enum members or
strings), named by its import path::

    ```{state-diagram} comet_core.stomp.session:TRANSITIONS
    :caption: The server side of one STOMP connection
    ```

Because the picture is drawn from the object the session runs on, it cannot drift from the
code. States are laid out left to right in table order (then states that are only
reached); events that keep the state are listed under it, the others are arcs (forward
above, backward below).
"""

from __future__ import annotations

import enum
import importlib
from collections import defaultdict
from xml.sax.saxutils import escape

from docutils import nodes
from docutils.parsers.rst import directives
from sequence_diagram import figure
from sphinx.util.docutils import SphinxDirective

STEP = 210
BOX_W, BOX_H = 150, 40
CHAR = 7.0
# Default colours, as attributes so the SVG reads anywhere; the site's CSS overrides them.
BOX_STYLE = 'class="box" fill="#f4f4f4" stroke="#555"'
ARROW_STYLE = 'class="arrow" stroke="#222"'


def name_of(state) -> str:
    return state.name if isinstance(state, enum.Enum) else str(state)


def load(path: str):
    module, _, attr = path.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def layout(table) -> tuple[list[str], dict[str, list[str]], dict[tuple[str, str], list[str]]]:
    """States in order, events that stay per state, and events per (from, to) arc."""
    states = [name_of(s) for s in table]  # the table's own order first
    for moves in table.values():
        for target in moves.values():
            if name_of(target) not in states:
                states.append(name_of(target))
    stays: dict[str, list[str]] = defaultdict(list)
    arcs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for state, moves in table.items():
        for event, target in moves.items():
            src, dst = name_of(state), name_of(target)
            (stays[src] if src == dst else arcs[(src, dst)]).append(str(event))
    return states, stays, arcs


def render(table, title: str = "") -> str:
    states, stays, arcs = layout(table)
    x = {s: 40 + BOX_W / 2 + i * STEP for i, s in enumerate(states)}
    # Short arcs nearest the boxes, so that longer ones pass over them without crossing.
    def span(arc: tuple[str, str]) -> int:
        return abs(states.index(arc[1]) - states.index(arc[0]))

    forward = sorted((a for a in arcs if states.index(a[1]) > states.index(a[0])), key=span)
    backward = sorted((a for a in arcs if a not in forward), key=span)
    # Each arc leaves and enters its box at its own x, so no two arcs share a vertical line.
    ends: dict[str, int] = defaultdict(int)

    def slot(state: str, side: int) -> float:
        ends[state] += 1
        return x[state] + side * (BOX_W / 2 - 12 * ends[state])
    above = 30 + 28 * len(forward)
    mid = above + BOX_H / 2
    below_stays = max((len(v) for v in stays.values()), default=0) * 17
    height = above + BOX_H + 20 + below_stays + 28 * len(backward) + 30
    width = 80 + BOX_W + (len(states) - 1) * STEP
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        '<defs><marker id="st-head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto">'
        '<path class="head" fill="#222" d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for s in states:
        out.append(f'<rect {BOX_STYLE} x="{x[s] - BOX_W / 2}" y="{above}" width="{BOX_W}" '
                   f'height="{BOX_H}" rx="18"/>')
        out.append(f'<text x="{x[s]}" y="{mid + 5}" text-anchor="middle" font-size="13" '
                   f'font-weight="bold">{escape(s)}</text>')
        for i, event in enumerate(sorted(stays.get(s, []))):
            out.append(f'<text x="{x[s]}" y="{above + BOX_H + 18 + 17 * i}" '
                       f'text-anchor="middle" font-size="12">↻ {escape(event)}</text>')
    for level, (src, dst) in enumerate(forward):
        y = above - 14 - 28 * level
        label = ", ".join(arcs[(src, dst)])
        x1, x2 = slot(src, 1), slot(dst, -1)
        out.append(f'<path {ARROW_STYLE} fill="none" stroke-width="1.5" '
                   f'd="M{x1},{above} L{x1},{y} L{x2},{y} L{x2},{above}" '
                   'marker-end="url(#st-head)"/>')
        out.append(f'<text x="{(x1 + x2) / 2}" y="{y - 5}" text-anchor="middle" '
                   f'font-size="12">{escape(label)}</text>')
    base = above + BOX_H + 20 + below_stays
    for level, (src, dst) in enumerate(backward):
        y = base + 14 + 28 * level
        label = ", ".join(arcs[(src, dst)])
        x1, x2 = slot(src, -1), slot(dst, 1)
        out.append(f'<path {ARROW_STYLE} fill="none" stroke-width="1.5" stroke-dasharray="5,3" '
                   f'd="M{x1},{above + BOX_H} L{x1},{y} L{x2},{y} L{x2},{above + BOX_H}" '
                   'marker-end="url(#st-head)"/>')
        out.append(f'<text x="{(x1 + x2) / 2}" y="{y + 15}" text-anchor="middle" '
                   f'font-size="12">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


class StateDiagram(SphinxDirective):
    required_arguments = 1
    option_spec = {"caption": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        try:
            table = load(self.arguments[0])
        except (ImportError, AttributeError) as exc:
            raise self.error(f"state-diagram: cannot load {self.arguments[0]}: {exc}") from None
        caption = self.options.get("caption", "")
        return [figure(render(table, caption), caption)]


def setup(app):
    app.add_directive("state-diagram", StateDiagram)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
