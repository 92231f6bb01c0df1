"""The chat service against crafted messages: what it keeps in a room's history.

Anyone may publish anything on a room's topic. A line that is not a chat line (a time
that no page can show, a text past 2,000 characters, fields missing or of the wrong kind)
is left out of the history, with one log line saying why; the lines before and after it
stay, and every welcome the service sends is valid JSON a page can read.
"""

from __future__ import annotations

import json

import pytest
from twisted.logger import capturedLogs

from comet_core.chat import REPLY_PREFIX, ROOM_PREFIX, SERVICE, ChatRooms, ChatService
from comet_core.hub import Hub
from comet_core.stomp.session import ServerSession

ANN = "ann-0123456789"
BOB = "bob-0123456789"
NOW_MS = 1_767_225_600_000  # 2026-01-01


def join(client: str, nick: str = "Ann", room: str = "lobby") -> bytes:
    return json.dumps({"type": "join", "client": client, "nick": nick, "room": room}).encode()


def good(ident: str, text: str = "hello", **fields) -> dict:
    return {"type": "message", "id": ident, "nick": "Ann", "text": text, "at": NOW_MS,
            **fields}


def without(field: str) -> dict:
    line = good("a-missing")
    del line[field]
    return line


#: Lines a script can publish that no page should show, and none should keep.
CRAFTED = {
    "at far in the future": good("a-1", at=1e20),
    "at a string": good("a-2", at="yesterday"),
    "at true": good("a-3", at=True),
    "at negative": good("a-4", at=-1),
    "at a fraction": good("a-5", at=1.5),
    "at null": good("a-6", at=None),
    "text of 5,000 characters": good("a-7", "x" * 5000),
    "text empty": good("a-8", ""),
    "text a number": good("a-9", 42),
    "text with a control character": good("a-10", "bell\x07"),
    "nick of 10,000 characters": good("a-11", nick="n" * 10_000),
    "nick with a newline": good("a-12", nick="a\nb"),
    "id with a space": good("a 13"),
    "id of 101 characters": good("a" * 101),
    "id a number": good(14),
    "no id": without("id"),
    "no nick": without("nick"),
    "no text": without("text"),
    "no at": without("at"),
    "an unknown type": {**good("a-15"), "type": "shout"},
}
#: Bodies that json.dumps cannot make: NaN, and half of a surrogate pair.
RAW = {
    "at NaN": b'{"type":"message","id":"a-16","nick":"Ann","text":"t","at":NaN}',
    "at Infinity": b'{"type":"message","id":"a-17","nick":"Ann","text":"t","at":Infinity}',
    "a lone surrogate in the text": (b'{"type":"message","id":"a-18","nick":"Ann",'
                                     b'"text":"\\ud800","at":1}'),
    "not JSON": b"\xff\xfe",
    "a list": b"[1, 2]",
}


def crafted_bodies() -> list[tuple[str, bytes]]:
    return [(name, json.dumps(line).encode()) for name, line in CRAFTED.items()] + list(
        RAW.items())


@pytest.fixture
def rooms() -> ChatRooms:
    rooms = ChatRooms()
    rooms.request(join(ANN), 0)
    return rooms


def welcome_of_a_newcomer(rooms: ChatRooms) -> dict:
    publishes = rooms.request(join(BOB, "bob"), 1)
    [welcome] = [p for p in publishes if p.destination == REPLY_PREFIX + BOB]
    # Strict JSON, as a page's JSON.parse reads it: no NaN, no Infinity, valid UTF-8.
    def refuse(constant: str) -> None:
        raise ValueError(constant)
    return json.loads(welcome.body.decode("utf-8"), parse_constant=refuse)


@pytest.mark.parametrize(("name", "body"), crafted_bodies(), ids=[n for n, _ in
                                                                  crafted_bodies()])
def test_a_crafted_line_is_not_kept_and_the_history_stays_whole(rooms, name, body):
    room = ROOM_PREFIX + "lobby"
    assert rooms.room_message(room, json.dumps(good("before")).encode(), 1) is None
    problem = rooms.room_message(room, body, 1)
    assert isinstance(problem, str) and problem, f"{name}: kept"
    assert rooms.room_message(room, json.dumps(good("after")).encode(), 1) is None
    history = welcome_of_a_newcomer(rooms)["history"]
    assert [line["id"] for line in history] == ["before", "after"]


def test_a_good_line_is_kept_with_its_five_fields_only(rooms):
    line = good("a-1", "<b>markup is text</b>", extra="dropped")
    assert rooms.room_message(ROOM_PREFIX + "lobby", json.dumps(line).encode(), 1) is None
    [kept] = welcome_of_a_newcomer(rooms)["history"]
    assert kept == {"type": "message", "id": "a-1", "nick": "Ann",
                    "text": "<b>markup is text</b>", "at": NOW_MS}


def test_the_bounds_themselves_are_kept(rooms):
    room = ROOM_PREFIX + "lobby"
    edge = [good("t", "x" * 2000), good("n", nick="n" * 32), good("z", at=0),
            good("y", at=4_102_444_800_000), good("f", at=float(NOW_MS)),
            good("e", "😀" * 2000)]  # 2,000 characters, 4,000 UTF-16 units
    for line in edge:
        assert rooms.room_message(room, json.dumps(line).encode(), 1) is None, line
    assert len(welcome_of_a_newcomer(rooms)["history"]) == len(edge)


def test_a_refusal_never_echoes_what_cannot_be_sent(rooms):
    """A room name that is half a surrogate pair (or a megabyte) is not named back."""
    for room in ["\ud800", "x" * 1_000_000]:
        body = json.dumps({"type": "join", "client": BOB, "nick": "bob", "room": room})
        [refusal] = rooms.request(body.encode(), 1)
        answer = json.loads(refusal.body.decode("utf-8"))
        assert answer["type"] == "refused" and answer["room"] is None
        assert len(refusal.body) < 500


def client(hub: Hub) -> ServerSession:
    session = ServerSession(hub)
    session.receive_data(b"CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
    session.data_to_send()
    return session


def test_the_service_logs_one_line_per_crafted_line_and_keeps_the_rest():
    hub = Hub()
    service = ChatService(hub, lambda: 0.0)
    ann = client(hub)
    ann.receive_data(f"SEND\ndestination:{SERVICE}\n\n".encode() + join(ANN) + b"\x00")
    room = f"SEND\ndestination:{ROOM_PREFIX}lobby\n\n".encode()
    with capturedLogs() as events:
        ann.receive_data(room + json.dumps(good("a-1", at=1e20)).encode() + b"\x00")
        ann.receive_data(room + json.dumps(good("a-2", "x" * 5000)).encode() + b"\x00")
        ann.receive_data(room + json.dumps(good("a-3")).encode() + b"\x00")
    mine = [e for e in events if e.get("log_namespace") == "comet_core.chat"]
    assert len(mine) == 2
    assert "time" in mine[0]["problem"] and "2000" in mine[1]["problem"]
    assert [line["id"] for line in welcome_of_a_newcomer(service.rooms)["history"]] == ["a-3"]
    service.close()
