"""The group chat at /chat/ and the steps of Part 7, in Chromium: two people talk.

Each test opens two browser contexts (two separate visitors: no shared cookies or storage)
on a `serve` reached through a TCP proxy that the test can tell to drop every connection.
The server's chat service runs with one-second presence beats, so a closed tab is noticed
within a few seconds. Chromium (and the skip when it is missing) and the `Proxy` come from
the browser tests' harness (conftest.py, support.py); the server is this module's own, for
its short beats and the Part 7 steps it serves.
"""

from __future__ import annotations

import http.client
import itertools
import re
import shutil
import urllib.parse
from dataclasses import dataclass

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.support import Proxy  # noqa: E402
from tests.helpers import ROOT, running  # noqa: E402

SERVING = re.compile(rb"Serving the site at http://(\d+\.\d+\.\d+\.\d+):(\d+)/")

TRANSPORTS = ["websocket", "sse", "stream", "poll"]
WAIT = 15_000  # ms: the bound on any one wait (presence needs three beats and a tick)
_rooms = itertools.count(1)


@dataclass
class ChatServer:
    url: str
    proxied_url: str
    proxy: Proxy


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory):
    """serve with a one-second chat beat, the Part 7 steps under /part07/, and a proxy."""
    site = tmp_path_factory.mktemp("site")
    (site / "docs").mkdir()
    (site / "docs" / "index.html").write_text("<h1>Comet, step by step</h1>")
    shutil.copytree(ROOT / "parts" / "part07", site / "part07")
    args = ["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site),
            "--chat-beat", "1"]
    with running(args) as server:
        host, port = server.wait_for(SERVING).groups()
        proxy = Proxy(int(port))
        try:
            yield ChatServer(f"http://127.0.0.1:{int(port)}",
                             f"http://127.0.0.1:{proxy.port}", proxy)
        finally:
            proxy.close()


def fresh_room(label: str) -> str:
    """A room of its own for each test, so tests sharing the server do not meet."""
    return f"{label}-{next(_rooms)}"


def watch(page: Page) -> None:
    """Record the dialogs (alert, confirm...) a page tries to show, and its uncaught errors."""
    page.dialogs = []
    page.errors = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: page.errors.append(str(error)))


def open_chat(browser, base: str, nick: str, room: str, transport: str = "auto") -> Page:
    context = browser.new_context()
    page = context.new_page()
    watch(page)
    query = urllib.parse.urlencode({"nick": nick, "room": room, "transport": transport})
    page.goto(f"{base}/chat/?{query}")
    if transport != "auto":
        expect(page.locator("#status")).to_contain_text(f"via {transport}", timeout=WAIT)
    expect(page.locator("#members li", has_text=nick)).to_have_count(1, timeout=WAIT)
    return page


def say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def message(page: Page, text: str):
    """The log lines whose text is exactly `text`."""
    return page.locator("#log li.message .text", has_text=re.compile(f"^{re.escape(text)}$"))


def members(page: Page):
    return page.locator("#members li")


def close(*pages: Page) -> None:
    for page in pages:
        page.context.close()
        assert page.errors == [], f"uncaught errors in the page: {page.errors}"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_two_people_chat_through_each_transport(browser, chat_server, transport):
    room = fresh_room(transport)
    ann = open_chat(browser, chat_server.url, "ann", room, transport)
    bob = open_chat(browser, chat_server.url, "bob", room, transport)
    expect(ann.locator("#log .notice", has_text="bob joined")).to_have_count(1, timeout=WAIT)
    expect(members(ann)).to_have_text(["ann", "bob"], timeout=WAIT)
    expect(members(bob)).to_have_text(["ann", "bob"])
    say(ann, f"hello over {transport}")
    expect(message(bob, f"hello over {transport}")).to_have_count(1, timeout=WAIT)
    say(bob, "hi ann")
    expect(message(ann, "hi ann")).to_have_count(1, timeout=WAIT)
    # Our own line is confirmed by the server's RECEIPT.
    expect(ann.locator("#log li.message.pending")).to_have_count(0, timeout=WAIT)
    expect(ann.locator("#log li.message .state")).to_have_text(["sent"])
    bob.click("#leave")
    expect(ann.locator("#log .notice", has_text="bob left")).to_have_count(1, timeout=WAIT)
    expect(members(ann)).to_have_text(["ann"])
    assert ann.evaluate("chat.socket.transport") == transport
    close(ann, bob)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connections_dropped_mid_conversation_lose_and_double_nothing(
        browser, chat_server, transport):
    room = fresh_room(f"drop-{transport}")
    ann = open_chat(browser, chat_server.proxied_url, "ann", room, transport)
    bob = open_chat(browser, chat_server.proxied_url, "bob", room, transport)
    sent = []
    for n in range(3):
        sent.append(f"before {n}")
        say(ann, sent[-1])
    expect(message(bob, sent[-1])).to_have_count(1, timeout=WAIT)
    sent.append("in flight")
    say(ann, sent[-1])  # not waited for: the drop may catch it on its way
    chat_server.proxy.drop_all()  # every connection through the proxy is cut, mid-conversation
    for n in range(5):
        sent.append(f"during {n}")
        say(ann, sent[-1])
    sent.append("bob after the drop")
    say(bob, sent[-1])
    for page in (ann, bob):
        for text in sent:
            expect(message(page, text)).to_have_count(1, timeout=WAIT)
    for page in (ann, bob):
        received = page.evaluate("chat.received")
        assert len(received) == len(set(received)) == len(sent), "a message came twice"
        assert page.evaluate("chat.socket.transport") == transport
    assert chat_server.proxy.dropped > 0
    close(ann, bob)


def test_the_transport_menu_switches_transport_and_keeps_the_room(browser, chat_server):
    room = fresh_room("switch")
    ann = open_chat(browser, chat_server.url, "ann", room, "poll")
    bob = open_chat(browser, chat_server.url, "bob", room, "websocket")
    for transport in ["sse", "stream", "websocket"]:
        ann.select_option("#transport", transport)
        expect(ann.locator("#status")).to_contain_text(f"via {transport}", timeout=WAIT)
        say(ann, f"now over {transport}")
        expect(message(bob, f"now over {transport}")).to_have_count(1, timeout=WAIT)
    # The service knows ann by her page's id: a new session is no new arrival.
    expect(bob.locator("#log .notice")).to_have_text(["bob joined"])
    expect(members(bob)).to_have_text(["ann", "bob"])
    close(ann, bob)


def test_typing_goes_on_while_the_network_is_away(browser, chat_server):
    room = fresh_room("offline")
    ann = open_chat(browser, chat_server.url, "ann", room, "poll")
    bob = open_chat(browser, chat_server.url, "bob", room, "poll")
    ann.context.set_offline(True)
    for n in range(3):
        say(ann, f"typed offline {n}")
        expect(ann.locator("#text")).to_have_value("")  # the input is free at once
    expect(ann.locator("#log li.message.pending .state")).to_have_text(["sending…"] * 3)
    expect(ann.locator("#status")).to_contain_text("3 waiting to send")
    ann.context.set_offline(False)
    expect(ann.locator("#log li.message.pending")).to_have_count(0, timeout=WAIT)
    expect(bob.locator("#log li.message .text")).to_have_text(
        [f"typed offline {n}" for n in range(3)], timeout=WAIT)
    close(ann, bob)


def test_markup_in_messages_and_names_shows_as_text_and_runs_nothing(browser, chat_server):
    room = fresh_room("xss")
    attack = "<img src=x onerror=alert(1)>"
    nick = "<b onmouseover=alert(2)>eve</b>"
    eve = open_chat(browser, chat_server.url, nick, room)
    ann = open_chat(browser, chat_server.url, "ann", room)
    say(eve, attack)
    expect(message(ann, attack)).to_have_count(1, timeout=WAIT)
    expect(ann.locator("#log li.message .nick", has_text=nick)).to_have_count(1)
    expect(members(ann)).to_have_text([nick, "ann"])
    for page in (eve, ann):
        assert page.locator("main img, main b").count() == 0
        assert page.dialogs == []
    close(eve, ann)


def test_joining_shows_the_last_messages_of_the_room(browser, chat_server):
    room = fresh_room("history")
    ann = open_chat(browser, chat_server.url, "ann", room)
    for n in range(3):
        say(ann, f"said before bob came {n}")
    expect(ann.locator("#log li.message.pending")).to_have_count(0, timeout=WAIT)
    bob = open_chat(browser, chat_server.url, "bob", room)
    expect(bob.locator("#log li.message .text")).to_have_text(
        [f"said before bob came {n}" for n in range(3)], timeout=WAIT)
    expect(bob.locator("#log .divider")).to_have_count(1)
    close(ann, bob)


def test_a_closed_tab_leaves_the_members_list(browser, chat_server):
    room = fresh_room("presence")
    ann = open_chat(browser, chat_server.url, "ann", room)
    bob = open_chat(browser, chat_server.url, "bob", room)
    expect(members(ann)).to_have_text(["ann", "bob"], timeout=WAIT)
    # Bob's tab dies without a word (its goodbye is switched off), so the service notices
    # only that bob stopped beating.
    bob.evaluate("chat.request = () => {}")
    close(bob)
    expect(members(ann)).to_have_text(["ann"], timeout=WAIT)
    expect(ann.locator("#log .notice", has_text="bob left (timed out)")).to_have_count(1)
    close(ann)


def test_a_bad_room_name_is_refused_with_a_reason(browser, chat_server):
    page = browser.new_context().new_page()
    watch(page)
    page.goto(f"{chat_server.url}/chat/")
    page.fill("#nick", "ann")
    page.fill("#room", "no such room!")
    page.evaluate("document.getElementById('join').noValidate = true")
    page.click("#join-button")
    expect(page.locator("#problem")).to_contain_text("room name")
    close(page)


# The steps of Part 7 (parts/part07/stepN/), each run the way a reader runs it.


def open_step(browser, base: str, step: int) -> Page:
    page = browser.new_context().new_page()
    watch(page)
    page.goto(f"{base}/part07/step{step}/")
    expect(page.locator("#status")).to_have_text("Connected", timeout=WAIT)
    return page


def join_step(page: Page, nick: str, room: str) -> None:
    page.fill("#nick", nick)
    page.fill("#room", room)
    page.click("#join button")


def test_step1_connects_subscribes_and_sends(browser, chat_server):
    ann, bob = open_step(browser, chat_server.url, 1), open_step(browser, chat_server.url, 1)
    say(ann, "<i>hello</i> from step 1")
    for page in (ann, bob):
        expect(page.locator("#log li")).to_contain_text(["<i>hello</i> from step 1"],
                                                        timeout=WAIT)
        assert page.locator("#log i").count() == 0
    close(ann, bob)


def test_step2_has_nicknames_and_rooms(browser, chat_server):
    room = fresh_room("step2")
    ann, bob, cat = (open_step(browser, chat_server.url, 2) for _ in range(3))
    join_step(ann, "ann", room)
    join_step(bob, "bob", room)
    join_step(cat, "cat", fresh_room("step2-elsewhere"))
    expect(bob.locator("#room-title")).to_have_text(f"#{room}")
    say(ann, "hello room")
    say(cat, "hello other room")
    expect(bob.locator("#log li")).to_have_text(["annhello room"], timeout=WAIT)
    expect(bob.locator("#log .nick")).to_have_text(["ann"])
    expect(cat.locator("#log .text")).to_have_text(["hello other room"], timeout=WAIT)
    join_step(cat, "cat", "Not A Room!")
    expect(cat.locator("#problem")).to_contain_text("room name")
    close(ann, bob, cat)


@pytest.mark.parametrize("step", [3, 4])
def test_steps_3_and_4_show_who_is_here_and_notices(browser, chat_server, step):
    room = fresh_room(f"step{step}")
    ann, bob = open_step(browser, chat_server.url, step), open_step(browser, chat_server.url,
                                                                    step)
    join_step(ann, "ann", room)
    expect(members(ann)).to_have_text(["ann"], timeout=WAIT)
    say(ann, "before bob")
    expect(ann.locator("#log .text")).to_have_text(["before bob"], timeout=WAIT)
    join_step(bob, "bob", room)
    expect(members(ann)).to_have_text(["ann", "bob"], timeout=WAIT)
    expect(members(bob)).to_have_text(["ann", "bob"], timeout=WAIT)
    expect(ann.locator("#log .notice")).to_have_text(["ann joined", "bob joined"])
    # Step 4 adds the history: bob sees what ann said before he came; step 3 does not.
    expected = ["before bob", "after bob"] if step == 4 else ["after bob"]
    say(ann, "after bob")
    expect(bob.locator("#log .text")).to_have_text(expected, timeout=WAIT)
    close(bob)
    expect(members(ann)).to_have_text(["ann"], timeout=WAIT)
    close(ann)


def session_ids(page: Page) -> list[str]:
    """The id of each comet session the page opens from now on (POST /comet/ answers it)."""
    ids: list[str] = []
    page.on("response", lambda r: ids.append(r.text()) if (
        r.request.method == "POST" and r.url.endswith("/comet/") and r.ok) else None)
    return ids


@pytest.mark.parametrize("transport", ["websocket", "poll"])
def test_a_session_ended_on_the_server_is_replaced_and_nothing_is_lost(
        browser, chat_server, transport):
    """The server ends ann's comet session: her page opens a new one, is back in the room,
    and what she typed meanwhile goes out once; nothing shows twice on either page."""
    room = fresh_room(f"ended-{transport}")
    context = browser.new_context()
    ann = context.new_page()
    watch(ann)
    ids = session_ids(ann)
    query = urllib.parse.urlencode({"nick": "ann", "room": room, "transport": transport})
    ann.goto(f"{chat_server.url}/chat/?{query}")
    bob = open_chat(browser, chat_server.url, "bob", room, transport)
    expect(members(ann)).to_have_text(["ann", "bob"], timeout=WAIT)
    say(ann, "before")
    expect(message(bob, "before")).to_have_count(1, timeout=WAIT)
    expect(ann.locator("#log li.message.pending")).to_have_count(0, timeout=WAIT)
    assert len(ids) == 1
    # End ann's session on the server, and type on while her page finds out and starts over.
    ann.evaluate("window.closes = []; chat.socket.addEventListener('close', "
                 "(e) => closes.push(e.code))")
    conn = http.client.HTTPConnection("127.0.0.1", int(chat_server.url.rsplit(":", 1)[1]),
                                      timeout=10)
    conn.request("DELETE", f"/comet/{ids[0]}")
    assert conn.getresponse().status == 204
    conn.close()
    sent = ["before"]
    for n in range(3):
        sent.append(f"while reconnecting {n}")
        say(ann, sent[-1])
    ann.wait_for_function("closes.length > 0", timeout=WAIT)
    assert ann.evaluate("closes")[0] in (4000, 4001)
    expect(ann.locator("#status")).to_contain_text(f"via {transport}", timeout=WAIT)
    assert len(ids) == 2 and ids[1] != ids[0]  # a new session
    expect(members(ann)).to_have_text(["ann", "bob"], timeout=WAIT)
    expect(members(bob)).to_have_text(["ann", "bob"])
    sent.append("after, from ann")
    say(ann, sent[-1])
    sent.append("after, from bob")
    say(bob, sent[-1])
    for page in (ann, bob):
        for text in sent:
            expect(message(page, text)).to_have_count(1, timeout=WAIT)
        expect(page.locator("#log li.message")).to_have_count(len(sent))
        received = page.evaluate("chat.received")
        assert len(received) == len(set(received)), "a message came twice"
        assert len(received) == len(sent), "a message was lost"
    expect(ann.locator("#log li.message.pending")).to_have_count(0, timeout=WAIT)
    assert ann.evaluate("chat.outbox.size") == 0
    close(ann, bob)
