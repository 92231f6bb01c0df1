"""The chat page at /chat/ against crafted messages, in Chromium.

Anyone may publish anything on a room's topic: here a script does, over STOMP on the
broker's TCP port, with lines no page can show (a time of 1e20 ms, a text of 5,000
characters, fields missing or of the wrong kind, NaN, half a surrogate pair, a forged
join notice). A page in the room skips each one with a console warning and nothing else:
its WebSocket stays the one it opened, the lines before and after show, nothing is thrown.
A newcomer's history holds every good line, in order, and none of the bad.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import urllib.parse

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")

from playwright.sync_api import Page, expect  # noqa: E402

from tests.helpers import running  # noqa: E402
from tests.transports.http.support import StompTCP, frame  # noqa: E402

SERVING = re.compile(rb"Serving the site at http://(\d+\.\d+\.\d+\.\d+):(\d+)/")
STOMP = re.compile(rb"STOMP broker listening on [\d.]+:(\d+)")
WAIT = 15_000  # ms: the bound on any one wait
_rooms = itertools.count(1)

#: Count the WebSockets a page opens: a page that rebuilds its socket opens another.
COUNT_SOCKETS = """
window.socketsOpened = 0;
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) { super(...args); window.socketsOpened += 1; }
};
"""


def line(ident: str, text: str, **fields) -> dict:
    return {"type": "message", "id": ident, "nick": "eve", "text": text,
            "at": int(time.time() * 1000), **fields}


def crafted() -> list[str]:
    """Bodies a script can publish in a room that no page should show."""
    no_nick = line("evil-6", "no nick")
    del no_nick["nick"]
    documents = [
        line("evil-1", "far future", at=1e20),
        line("evil-2", "x" * 5000),
        line("evil-3", "a time that is text", at="yesterday"),
        line("evil-4", "a nick that is a list", nick=["eve"]),
        line("evil-5", "a bell\u0007 rings"),
        no_nick,
        {"type": "join", "nick": "eve", "client": "evil-client-1", "members": "everyone"},
        {"type": "leave", "nick": "eve", "client": "evil-client-1", "reason": "x" * 100,
         "members": []},
        {"type": "shout", "text": "an unknown type"},
        None,
        [1, 2, 3],
    ]
    raw = [
        '{"type":"message","id":"evil-7","nick":"eve","text":"NaN time","at":NaN}',
        '{"type":"message","id":"evil-8","nick":"eve","text":"half \\ud800","at":1}',
        "not json at all",
    ]
    return [json.dumps(document) for document in documents] + raw


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    """serve with one-second chat beats: (page URL base, STOMP port)."""
    site = tmp_path_factory.mktemp("site")
    (site / "docs").mkdir()
    (site / "docs" / "index.html").write_text("<h1>Comet, step by step</h1>")
    args = ["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site),
            "--chat-beat", "1"]
    with running(args) as server:
        host, port = server.wait_for(SERVING).groups()
        stomp_port = int(server.wait_for(STOMP).group(1))
        yield f"http://{host.decode()}:{int(port)}", stomp_port


def open_chat(browser, base: str, nick: str, room: str) -> Page:
    page = browser.new_context().new_page()
    page.errors, page.warnings = [], []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: page.warnings.append(message.text)
            if message.type == "warning" else None)
    page.add_init_script(COUNT_SOCKETS)
    query = urllib.parse.urlencode({"nick": nick, "room": room, "transport": "websocket"})
    page.goto(f"{base}/chat/?{query}")
    expect(page.locator("#status")).to_contain_text("via websocket", timeout=WAIT)
    expect(page.locator("#members li", has_text=nick)).to_have_count(1, timeout=WAIT)
    return page


def texts(page: Page):
    return page.locator("#log li.message .text")


def test_crafted_lines_are_skipped_and_the_page_and_history_stay_whole(browser, chat):
    base, stomp_port = chat
    room = f"crafted-{next(_rooms)}"
    ann = open_chat(browser, base, "ann", room)
    ann.fill("#text", "before")
    ann.press("#text", "Enter")
    expect(ann.locator("#log li.message.pending")).to_have_count(0, timeout=WAIT)

    script = StompTCP(stomp_port)
    destination = f"/topic/chat.{room}"
    bad = crafted()
    for body in bad:
        script.send(frame("SEND", body, destination=destination))
    script.send(frame("SEND", json.dumps(line("good-1", "after")), destination=destination,
                      receipt="done"))
    assert script.next_frame().startswith(b"RECEIPT")
    script.close()

    expect(texts(ann)).to_have_text(["before", "after"], timeout=WAIT)
    ann.fill("#text", "typed after")
    ann.press("#text", "Enter")
    expect(texts(ann)).to_have_text(["before", "after", "typed after"], timeout=WAIT)
    expect(ann.locator("#log li.message.pending")).to_have_count(0, timeout=WAIT)
    assert ann.evaluate("window.socketsOpened") == 1, "the page rebuilt its WebSocket"
    assert ann.errors == []
    skipped = [w for w in ann.warnings if w.startswith("chat: skipped")]
    assert len(skipped) == len(bad), ann.warnings

    # A newcomer gets the whole history: every good line, in order, and no bad one.
    bob = open_chat(browser, base, "bob", room)
    expect(texts(bob)).to_have_text(["before", "after", "typed after"], timeout=WAIT)
    expect(bob.locator("#members li")).to_have_text(["ann", "bob"], timeout=WAIT)
    assert bob.evaluate("window.socketsOpened") == 1
    assert bob.errors == []
    for page in (ann, bob):
        page.context.close()


def test_a_line_from_the_far_future_breaks_neither_the_socket_nor_the_history(browser, chat):
    """A time of 1e20 ms is past what a Date can hold: shown as it came, it would throw
    in the page (and its socket, taking that for a broken connection, would be rebuilt),
    and in every newcomer's history, cut short there."""
    base, stomp_port = chat
    room = f"crafted-{next(_rooms)}"
    ann = open_chat(browser, base, "ann", room)
    script = StompTCP(stomp_port)
    destination = f"/topic/chat.{room}"
    for body in [line("ok-1", "one"), line("evil-1", "far future", at=1e20),
                 line("ok-2", "two")]:
        script.send(frame("SEND", json.dumps(body), destination=destination, receipt="r"))
        assert script.next_frame().startswith(b"RECEIPT")
    script.close()
    expect(texts(ann)).to_have_text(["one", "two"], timeout=WAIT)
    assert ann.evaluate("window.socketsOpened") == 1, "the page rebuilt its WebSocket"
    bob = open_chat(browser, base, "bob", room)
    expect(texts(bob)).to_have_text(["one", "two"], timeout=WAIT)
    assert ann.errors == [] and bob.errors == []
    for page in (ann, bob):
        page.context.close()


def test_a_page_sends_only_what_pages_accept(browser, chat):
    """A tab typed (or pasted) in the message box goes as a space: the line is valid,
    so the other pages and the history show it."""
    base, _ = chat
    room = f"crafted-{next(_rooms)}"
    ann = open_chat(browser, base, "ann", room)
    bob = open_chat(browser, base, "bob", room)
    ann.evaluate("chat.say('a\\ttab')")
    expect(texts(bob)).to_have_text(["a tab"], timeout=WAIT)
    expect(ann.locator("#log li.message.pending")).to_have_count(0, timeout=WAIT)
    assert ann.errors == [] and bob.errors == []
    for page in (ann, bob):
        page.context.close()
