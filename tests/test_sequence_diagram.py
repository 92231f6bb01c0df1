"""The docs' sequence-diagram directive: notation in, SVG out, bad lines refused."""

import sys
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import sequence_diagram as sd  # noqa: E402

SOURCE = """
participants: Browser, Server
Browser -> Server: GET /poll
note Server: holds the request
wait: a message is published
Server --> Browser: 200 <the message>
Publisher -> Server: POST /publish
"""


def test_participants_keep_declared_then_first_mention_order():
    participants, steps = sd.parse(SOURCE)
    assert participants == ["Browser", "Server", "Publisher"]
    assert [s.kind for s in steps] == ["request", "note", "wait", "response", "request"]


def test_render_is_well_formed_svg_with_text_escaped():
    svg = sd.render(*sd.parse(SOURCE), title="Long-polling")
    root = ET.fromstring(svg)  # raises if not well-formed
    assert root.tag.endswith("svg")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "200 <the message>" in texts
    dashed = [e for e in root.iter() if e.get("stroke-dasharray")]
    assert len(dashed) == 1  # exactly the one response arrow


@pytest.mark.parametrize("bad", ["Browser => Server: hi", "just words", ""])
def test_bad_notation_is_refused(bad):
    with pytest.raises(sd.DiagramError):
        sd.parse(bad)


def test_state_diagram_draws_every_state_and_event_from_the_table():
    import enum

    import state_diagram

    class S(enum.Enum):
        NEW = 1
        OPEN = 2
        CLOSED = 3

    table = {S.NEW: {"CONNECT": S.OPEN}, S.OPEN: {"SEND": S.OPEN, "DISCONNECT": S.CLOSED},
             S.CLOSED: {"reopen": S.NEW}}
    svg = state_diagram.render(table, "demo")
    root = ET.fromstring(svg)
    texts = " ".join(t.text for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for word in ("NEW", "OPEN", "CLOSED", "CONNECT", "↻ SEND", "DISCONNECT", "reopen"):
        assert word in texts
    assert len([e for e in root.iter() if e.get("stroke-dasharray")]) == 1  # one way back
