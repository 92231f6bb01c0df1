"""A `sequence-diagram` directive: a small text notation rendered to inline SVG at build time.

No JavaScript, no network, no external program: the picture is in the HTML page itself.

Notation, one statement a line::

    participants: Browser, Server      (optional: fixes the column order)
    Browser -> Server: GET /poll        a request (solid arrow)
    Server --> Browser: 200 OK          a response (dashed arrow)
    note Server: holds the request      a note over one participant
    note: time passes                   a note across all participants
    wait: 30 s later                    a break in time

Participants also appear in order of first mention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

COLUMN = 230
MARGIN = 70
ROW = 38
HEAD = 40
CHAR = 7.2  # average glyph width at the font size used, for sizing boxes
# Default colours, as attributes so the SVG reads anywhere; the site's CSS overrides them.
BOX_STYLE = 'class="box" fill="#f4f4f4" stroke="#555"'
NOTE_STYLE = 'class="note" fill="#fffbe6" stroke="#bbb"'
ARROW_STYLE = 'class="arrow" stroke="#222"'
LIFELINE_STYLE = 'class="lifeline" stroke="#999"'

ARROW = re.compile(r"^(?P<src>[^-:>]+?)\s*(?P<kind>-->|->)\s*(?P<dst>[^:]+?)\s*:\s*(?P<text>.*)$")
NOTE = re.compile(r"^note(?:\s+(?P<who>[^:]+?))?\s*:\s*(?P<text>.*)$")
WAIT = re.compile(r"^wait\s*:\s*(?P<text>.*)$")
PARTICIPANTS = re.compile(r"^participants\s*:\s*(?P<names>.*)$")


class DiagramError(ValueError):
    pass


@dataclass
class Step:
    kind: str  # "request", "response", "note", "wait"
    text: str
    src: str | None = None
    dst: str | None = None


def parse(source: str) -> tuple[list[str], list[Step]]:
    """Parse the notation into participants and steps; raise DiagramError on a bad line."""
    participants: list[str] = []
    steps: list[Step] = []

    def mention(name: str) -> str:
        if name not in participants:
            participants.append(name)
        return name

    for number, raw in enumerate(source.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := PARTICIPANTS.match(line):
            for name in m["names"].split(","):
                mention(name.strip())
        elif m := ARROW.match(line):
            kind = "response" if m["kind"] == "-->" else "request"
            steps.append(Step(kind, m["text"], mention(m["src"].strip()), mention(m["dst"])))
        elif m := NOTE.match(line):
            who = mention(m["who"].strip()) if m["who"] else None
            steps.append(Step("note", m["text"], who))
        elif m := WAIT.match(line):
            steps.append(Step("wait", m["text"]))
        else:
            raise DiagramError(f"line {number}: cannot read {line!r}")
    if not participants:
        raise DiagramError("a sequence diagram needs at least one participant")
    return participants, steps


def render(participants: list[str], steps: list[Step], title: str = "") -> str:
    """Lay the diagram out on a grid and return an SVG document."""
    x = {name: MARGIN + i * COLUMN for i, name in enumerate(participants)}
    width = 2 * MARGIN + (len(participants) - 1) * COLUMN
    height = HEAD + 20 + ROW * (len(steps) + 1) + HEAD
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        '<defs><marker id="sd-head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse">'
        '<path class="head" fill="#222" d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    top, bottom = HEAD, height - HEAD
    for name, cx in x.items():
        w = max(90, len(name) * CHAR + 24)
        out.append(f'<line {LIFELINE_STYLE} x1="{cx}" y1="{top}" x2="{cx}" y2="{bottom}" '
                   'stroke-width="1.5"/>')
        for y in (4, bottom + 4):
            out.append(f'<rect {BOX_STYLE} x="{cx - w / 2}" y="{y}" width="{w}" height="30" '
                       'rx="4"/>')
            out.append(f'<text x="{cx}" y="{y + 20}" text-anchor="middle" font-size="14" '
                       f'font-weight="bold">{escape(name)}</text>')
    y = HEAD + 20
    for step in steps:
        y += ROW
        if step.kind in ("request", "response"):
            x1, x2 = x[step.src], x[step.dst]
            dash = ' stroke-dasharray="6,4"' if step.kind == "response" else ""
            if x1 == x2:  # a step to itself: a small loop to the right
                out.append(f'<path {ARROW_STYLE} fill="none" d="M{x1},{y - 14} h40 v14 h-40" '
                           f'stroke-width="1.5" marker-end="url(#sd-head)"{dash}/>')
                out.append(f'<text x="{x1 + 46}" y="{y - 4}" font-size="13">'
                           f"{escape(step.text)}</text>")
            else:
                out.append(f'<line {ARROW_STYLE} x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" '
                           f'stroke-width="1.5" marker-end="url(#sd-head)"{dash}/>')
                out.append(f'<text x="{(x1 + x2) / 2}" y="{y - 7}" text-anchor="middle" '
                           f'font-size="13">{escape(step.text)}</text>')
        elif step.kind == "note":
            if step.src is None:
                left, right = MARGIN - 40, width - MARGIN + 40
            else:
                w = len(step.text) * CHAR + 20
                left, right = x[step.src] - w / 2, x[step.src] + w / 2
            out.append(f'<rect {NOTE_STYLE} x="{left}" y="{y - 22}" width="{right - left}" '
                       'height="28" rx="3"/>')
            out.append(f'<text x="{(left + right) / 2}" y="{y - 3}" text-anchor="middle" '
                       f'font-size="13" font-style="italic">{escape(step.text)}</text>')
        else:  # wait: a break in time across the lifelines
            out.append(f'<text x="{width / 2}" y="{y - 3}" text-anchor="middle" font-size="13" '
                       f'font-style="italic">⋯ {escape(step.text)} ⋯</text>')
    out.append("</svg>")
    return "\n".join(out)


class SequenceDiagram(SphinxDirective):
    has_content = True
    option_spec = {"caption": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        source = "\n".join(self.content)
        try:
            participants, steps = parse(source)
        except DiagramError as exc:
            raise self.error(f"sequence-diagram: {exc}") from None
        caption = self.options.get("caption", "")
        return [figure(render(participants, steps, caption), caption)]


def figure(svg: str, caption: str) -> nodes.container:
    """An inline SVG diagram with its caption, as both diagram directives place them."""
    box = nodes.container(classes=["sequence-diagram"])
    box += nodes.raw("", svg, format="html")
    if caption:
        para = nodes.paragraph()
        para += nodes.emphasis(text=caption)
        box += para
    return box


def setup(app):
    app.add_directive("sequence-diagram", SequenceDiagram)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
