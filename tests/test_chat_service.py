"""The chat's server side: rooms, presence leases and history, sans-IO and on a real hub."""

from __future__ import annotations

import json

from comet_core.chat import (
    REPLY_PREFIX,
    ROOM_PREFIX,
    SERVICE,
    ChatLimits,
    ChatRooms,
    ChatService,
)
from comet_core.hub import Hub
from comet_core.stomp.session import ServerSession

ANN = "ann-0123456789"
BOB = "bob-0123456789"


def request(kind: str, client: str, nick: str = "Ann", room: str = "lobby") -> bytes:
    return json.dumps({"type": kind, "client": client, "nick": nick, "room": room}).encode()


def line(ident: str, text: str, nick: str = "Ann") -> bytes:
    return json.dumps({"type": "message", "id": ident, "nick": nick, "text": text,
                       "at": 0}).encode()


def decoded(publishes):
    return [(p.destination, json.loads(p.body)) for p in publishes]


def test_a_join_gets_a_welcome_and_the_room_a_notice_with_the_members():
    rooms = ChatRooms()
    [(to, welcome), (room, notice)] = decoded(rooms.request(request("join", ANN), 0))
    assert to == REPLY_PREFIX + ANN
    assert welcome == {"type": "welcome", "room": "lobby", "history": [], "members": ["Ann"],
                       "beat": 10.0}
    assert room == ROOM_PREFIX + "lobby"
    assert notice == {"type": "join", "nick": "Ann", "client": ANN, "members": ["Ann"]}
    [(_, welcome2), (_, notice2)] = decoded(rooms.request(request("join", BOB, "bob"), 1))
    assert welcome2["members"] == notice2["members"] == ["Ann", "bob"]
    assert rooms.watched == {ROOM_PREFIX + "lobby"}


def test_joining_again_with_the_same_client_is_a_welcome_without_a_second_notice():
    rooms = ChatRooms()
    rooms.request(request("join", ANN), 0)
    [(to, welcome)] = decoded(rooms.request(request("join", ANN), 1))
    assert welcome["type"] == "welcome" and welcome["members"] == ["Ann"]


def test_history_keeps_the_last_messages_of_each_room_and_only_chat_lines():
    rooms = ChatRooms(ChatLimits(history=3))
    rooms.request(request("join", ANN), 0)
    for n in range(5):
        rooms.room_message(ROOM_PREFIX + "lobby", line(f"a-{n}", f"text {n}"), 1)
    rooms.room_message(ROOM_PREFIX + "lobby", b'{"type": "join", "nick": "x"}', 1)
    rooms.room_message(ROOM_PREFIX + "lobby", b"not json", 1)
    rooms.room_message(ROOM_PREFIX + "lobby", line("a-9", "x" * 5000), 1)  # too long
    [(_, welcome), *_] = decoded(rooms.request(request("join", BOB, "bob"), 2))
    assert [m["text"] for m in welcome["history"]] == ["text 2", "text 3", "text 4"]


def test_a_silent_member_times_out_with_a_leave_notice_and_a_beat_keeps_one_in():
    rooms = ChatRooms(ChatLimits(beat=1.0, missed_beats=3))
    rooms.request(request("join", ANN), 0)
    rooms.request(request("join", BOB, "bob"), 0)
    rooms.request(request("beat", BOB, "bob"), 2.5)
    assert rooms.tick(2.9) == []
    [(room, notice)] = decoded(rooms.tick(3.1))
    assert room == ROOM_PREFIX + "lobby"
    assert notice == {"type": "leave", "nick": "Ann", "client": ANN, "reason": "timed out",
                      "members": ["bob"]}
    assert rooms.tick(5.4) == []
    [(_, notice)] = decoded(rooms.tick(5.6))
    assert notice["nick"] == "bob" and notice["members"] == []


def test_a_beat_from_a_member_already_timed_out_brings_it_back_with_a_join():
    rooms = ChatRooms(ChatLimits(beat=1.0))
    rooms.request(request("join", ANN), 0)
    rooms.tick(10)
    [(_, notice)] = decoded(rooms.request(request("beat", ANN), 11))
    assert notice["type"] == "join" and notice["members"] == ["Ann"]


def test_leave_says_left_and_unknown_leaves_say_nothing():
    rooms = ChatRooms()
    rooms.request(request("join", ANN), 0)
    [(_, notice)] = decoded(rooms.request(request("leave", ANN), 1))
    assert notice["reason"] == "left" and notice["members"] == []
    assert rooms.request(request("leave", ANN), 2) == []
    assert rooms.request(request("leave", BOB, room="nowhere"), 2) == []


def test_bad_names_are_refused_with_a_reason_and_garbage_is_ignored():
    rooms = ChatRooms()
    for room, nick in [("Lobby", "Ann"), ("a.b", "Ann"), ("", "Ann"), ("x" * 33, "Ann"),
                       ("lobby", ""), ("lobby", " Ann"), ("lobby", "a\nb"),
                       ("lobby", "x" * 33)]:
        [(to, answer)] = decoded(rooms.request(request("join", ANN, nick, room), 0))
        assert to == REPLY_PREFIX + ANN
        assert answer["type"] == "refused" and answer["reason"]
    assert rooms.rooms == {}
    for body in [b"", b"[]", b"{", b'{"type": "join"}', request("join", "short"),
                 request("join", "../../x/yz"), request("dance", ANN), b"[" * 100_000]:
        assert rooms.request(body, 0) == []


def test_markup_in_a_nickname_is_kept_as_it_is_the_page_shows_it_as_text():
    rooms = ChatRooms()
    nick = "<img src=x onerror=alert(1)>"
    [(_, welcome), _] = decoded(rooms.request(request("join", ANN, nick), 0))
    assert welcome["members"] == [nick]


def test_rooms_and_members_are_bounded():
    rooms = ChatRooms(ChatLimits(max_rooms=2, max_members=1))
    rooms.request(request("join", ANN, room="one"), 0)
    [(_, answer)] = decoded(rooms.request(request("join", BOB, room="one"), 0))
    assert answer == {"type": "refused", "room": "one", "reason": "This room is full."}
    rooms.request(request("join", BOB, room="two"), 0)
    [(_, answer)] = decoded(rooms.request(request("join", "cat-0123456789", room="three"), 0))
    assert answer["type"] == "refused" and "too many rooms" in answer["reason"]
    rooms.request(request("leave", BOB, room="two"), 1)  # "two" is empty now: it makes way
    [(_, welcome), _] = decoded(rooms.request(request("join", BOB, room="three"), 2))
    assert welcome["type"] == "welcome"
    assert set(rooms.rooms) == {"one", "three"}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def client(hub: Hub) -> ServerSession:
    session = ServerSession(hub)
    session.receive_data(b"CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
    session.data_to_send()
    return session


def frames(session: ServerSession) -> list[dict]:
    """The JSON bodies of the MESSAGE frames the session has to send."""
    bodies = []
    for chunk in session.data_to_send().split(b"\x00"):
        if chunk.strip().startswith(b"MESSAGE"):
            bodies.append(json.loads(chunk.split(b"\n\n", 1)[1]))
    return bodies


def test_the_service_on_a_hub_answers_pages_keeps_history_and_times_members_out():
    hub, clock = Hub(), Clock()
    service = ChatService(hub, clock, ChatLimits(beat=1.0))
    ann, bob = client(hub), client(hub)
    for session, ident, nick in [(ann, ANN, "Ann"), (bob, BOB, "bob")]:
        session.receive_data(
            f"SUBSCRIBE\nid:room\ndestination:{ROOM_PREFIX}lobby\n\n\x00"
            f"SUBSCRIBE\nid:reply\ndestination:{REPLY_PREFIX}{ident}\n\n\x00".encode())
        if session is bob:
            ann.receive_data(f"SEND\ndestination:{ROOM_PREFIX}lobby\n\n".encode()
                             + line("a-1", "hello") + b"\x00")
        session.receive_data(f"SEND\ndestination:{SERVICE}\n\n".encode()
                             + request("join", ident, nick) + b"\x00")
    ann_saw, bob_saw = frames(ann), frames(bob)
    assert [b["type"] for b in ann_saw] == ["welcome", "join", "message", "join"]
    # Bob subscribed to the room before Ann spoke, so "hello" reaches him live and in the
    # history too: the page shows a message id once.
    assert [b["type"] for b in bob_saw] == ["message", "welcome", "join"]
    assert [m["id"] for m in bob_saw[1]["history"]] == [bob_saw[0]["id"]]
    assert bob_saw[1]["members"] == ["Ann", "bob"]
    # Ann's tab closes without a word; bob keeps beating.
    clock.now = 2.0
    bob.receive_data(f"SEND\ndestination:{SERVICE}\n\n".encode()
                     + request("beat", BOB, "bob") + b"\x00")
    clock.now = 3.5
    service.tick()
    [notice] = frames(bob)
    assert notice == {"type": "leave", "nick": "Ann", "client": ANN, "reason": "timed out",
                      "members": ["bob"]}
    service.close()
    assert hub.stats()["queue_subscribers"] == 0
