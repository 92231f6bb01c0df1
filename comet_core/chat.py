"""The group chat's server side: who is in each room, and the last messages said there.

A topic forgets everything (a message goes to whoever is subscribed at that moment), and a
browser tab can vanish without a word (closed, asleep, off the network). So the chat has a
small service that lives beside the hub, as one more participant on it:

``/topic/chat.ROOM``
    The room. Pages publish their messages here and every page in the room subscribes. The
    service subscribes too, and keeps the last `ChatLimits.history` messages of each room.
    It also publishes the join and leave notices here, each carrying the member list.
``/queue/chat.service``
    Requests to the service: ``join``, ``beat`` (I am still here) and ``leave``.
``/topic/chat.reply.CLIENT``
    The answer to a ``join``: the room's history and members. CLIENT is a random id the page
    chose; it subscribes there before it asks.

Bodies are JSON objects with a ``type``::

    page -> room      {"type": "message", "id": ID, "nick": NICK, "text": TEXT, "at": MS}
    page -> service   {"type": "join"|"beat"|"leave", "room": ROOM, "nick": NICK,
                       "client": CLIENT}
    service -> reply  {"type": "welcome", "room": ROOM, "history": [message, ...],
                       "members": [NICK, ...], "beat": SECONDS}
                      {"type": "refused", "room": ROOM, "reason": TEXT}
    service -> room   {"type": "join"|"leave", "nick": NICK, "client": CLIENT,
                       "reason": "left"|"timed out" (leave only), "members": [NICK, ...]}

Presence is a lease: a page sends ``beat`` every ``beat`` seconds, and a member not heard
from for ``beat * missed_beats`` seconds is gone, with a leave notice "timed out". That
covers the tab closed without a goodbye, and needs nothing from the transports (the same
works through a relay to another broker). The page says ``leave`` when it can, which is
only a faster path.

Anyone may publish anything on a topic, so both sides check what they receive against the
same rules, and skip (and log) what breaks them; nothing received is ever fatal. A chat
line (`chat_line`) has exactly the five fields above: ``id`` 1 to 100 of ``A-Z a-z 0-9 _ -``;
``nick`` 1 to 32 printable characters, without spaces at either end; ``text`` 1 to 2,000
characters, without control characters; ``at`` a whole number of milliseconds since 1970,
before the year 2100 (`LAST_AT`). Other fields are dropped. The page (``chat.js``,
``lineProblem``) checks the same, in characters as Python counts them (code points).

`ChatRooms` is the sans-IO core (fed bodies and the time, returning what to publish);
`ChatService` attaches it to a `comet_core.hub.Hub`. Everything is bounded: rooms, members
per room, messages kept per room, the length of names and texts.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from twisted.logger import Logger

from comet_core.flow import Gate
from comet_core.hub import Hub, Message, Queue, Topic

log = Logger(namespace="comet_core.chat")

ROOM_PREFIX = "/topic/chat."
SERVICE = "/queue/chat.service"
REPLY_PREFIX = "/topic/chat.reply."

#: Room names: short, lower case, no dots (so a room never collides with a reply topic).
ROOM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
#: Client ids: chosen at random by each page.
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
#: Message ids: the page's client id and a counter.
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
#: What a text may not contain: control characters, and halves of a surrogate pair (JSON
#: can carry one alone; it has no UTF-8 encoding).
NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: The latest time a line may carry: 2100-01-01, in milliseconds since 1970.
LAST_AT = 4_102_444_800_000
#: The longest history or member list a page shows (``MAX_LIST`` in chat.js).
CHAT_LIST_MAX = 10_000


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """The service's bounds; the defaults suit a demo on one machine."""

    history: int = 50
    max_rooms: int = 200
    max_members: int = 200
    #: The length of a nickname and of a text, in characters: the chat's own rules (the
    #: page checks the same numbers), not the server's to change.
    max_nick: int = 32
    max_text: int = 2000
    #: Seconds between a page's ``beat`` requests (told to it in the welcome).
    beat: float = 10.0
    #: Beats a member may miss before it counts as gone.
    missed_beats: int = 3


def valid_room(name: object) -> bool:
    return isinstance(name, str) and ROOM_NAME.fullmatch(name) is not None


def valid_nick(nick: object, limits: ChatLimits) -> bool:
    """A nickname: 1 to `max_nick` printable characters, not only spaces.

    Anything else is allowed, markup included: the page shows it as text, never as HTML.
    """
    return (isinstance(nick, str) and 0 < len(nick) <= limits.max_nick
            and nick.isprintable() and nick.strip() == nick and nick != "")


class BadLine(ValueError):
    """What is wrong with something that was meant to be a chat line (for the log)."""


def chat_line(document: object, limits: ChatLimits) -> dict:
    """The chat line `document` is, with only its five fields; `BadLine` saying what is
    wrong when it is not one. The one definition of a line on the server side."""
    if not isinstance(document, dict) or document.get("type") != "message":
        raise BadLine("not a chat line")
    ident, nick = document.get("id"), document.get("nick")
    text, at = document.get("text"), document.get("at")
    if not (isinstance(ident, str) and MESSAGE_ID.fullmatch(ident)):
        raise BadLine("its id is not 1 to 100 of A-Z a-z 0-9 _ -")
    if not valid_nick(nick, limits):
        raise BadLine(f"its nick is not 1 to {limits.max_nick} printable characters")
    if not (isinstance(text, str) and 0 < len(text) <= limits.max_text):
        raise BadLine(f"its text is not 1 to {limits.max_text} characters")
    if NOT_TEXT.search(text):
        raise BadLine("its text has control characters")
    if isinstance(at, float) and math.isfinite(at) and at.is_integer():
        at = int(at)
    if not (type(at) is int and 0 <= at <= LAST_AT):
        raise BadLine("its time is not a whole number of milliseconds from 1970 to 2100")
    return {"type": "message", "id": ident, "nick": nick, "text": text, "at": at}


@dataclass(frozen=True, slots=True)
class Publish:
    """Something for the adapter to publish."""

    destination: str
    body: bytes


@dataclass(slots=True)
class Member:
    nick: str
    last_seen: float


@dataclass(slots=True)
class Room:
    name: str
    history: deque[dict]
    members: dict[str, Member] = field(default_factory=dict)
    last_active: float = 0.0

    def nicks(self) -> list[str]:
        return sorted((m.nick for m in self.members.values()), key=str.casefold)


def _encode(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class ChatRooms:
    """Rooms, members and history, as a state machine fed request bodies and the time.

    `watched` is the set of room topics the service must be subscribed to (to keep their
    history); the adapter compares it before and after each call.
    """

    def __init__(self, limits: ChatLimits | None = None) -> None:
        self.limits = limits or ChatLimits()
        self.rooms: dict[str, Room] = {}

    @property
    def watched(self) -> set[str]:
        return {ROOM_PREFIX + name for name in self.rooms}

    def room_message(self, destination: str, body: bytes, now: float) -> str | None:
        """A message published in a room: kept in the history if it is a chat line (see
        `chat_line`). Returns why it was not, for the log; None when it was kept or was
        one of our own notices."""
        room = self.rooms.get(destination[len(ROOM_PREFIX):])
        if room is None:
            return None
        document = _load(body)
        if document is not None and document.get("type") in ("join", "leave"):
            return None  # our own notices
        try:
            line = chat_line(document, self.limits)
        except BadLine as exc:
            return str(exc)
        room.history.append(line)
        room.last_active = now
        return None

    def request(self, body: bytes, now: float) -> list[Publish]:
        """A request from a page on `SERVICE`; what to publish in answer."""
        document = _load(body)
        if document is None:
            return []
        kind, client = document.get("type"), document.get("client")
        if not (isinstance(client, str) and CLIENT_ID.fullmatch(client)):
            return []  # nowhere to answer, and nobody to count
        room_name, nick = document.get("room"), document.get("nick")
        if kind == "leave":
            room = self.rooms.get(room_name) if isinstance(room_name, str) else None
            return self._leave(room, client, "left") if room else []
        if kind not in ("join", "beat"):
            return []
        reply = REPLY_PREFIX + client
        if not valid_room(room_name):
            return [_refused(reply, room_name, "A room name is 1 to 32 characters: a-z, "
                                               "0-9, '-' and '_', starting with a letter "
                                               "or digit.")]
        if not valid_nick(nick, self.limits):
            return [_refused(reply, room_name, f"A nickname is 1 to {self.limits.max_nick} "
                                               "printable characters, without spaces at "
                                               "either end.")]
        room = self.rooms.get(room_name) or self._open(room_name, now)
        if room is None:
            return [_refused(reply, room_name, "The server has too many rooms open; try "
                                               "one that exists already.")]
        out: list[Publish] = []
        member = room.members.get(client)
        if member is None:
            if len(room.members) >= self.limits.max_members:
                return [_refused(reply, room_name, "This room is full.")]
            member = room.members[client] = Member(nick, now)
            out.append(self._notice(room, "join", client, nick))
        elif member.nick != nick:
            # A new name: say it as the old name leaving and the new one arriving.
            out.append(self._notice(room, "leave", client, member.nick, reason="renamed"))
            member.nick = nick
            out.append(self._notice(room, "join", client, nick))
        member.last_seen = now
        room.last_active = now
        if kind == "join":
            out.insert(0, Publish(reply, _encode({
                "type": "welcome", "room": room.name, "history": list(room.history),
                "members": room.nicks(), "beat": self.limits.beat})))
        return out

    def tick(self, now: float) -> list[Publish]:
        """Members not heard from for too long leave, with a notice that says so."""
        deadline = now - self.limits.beat * self.limits.missed_beats
        out: list[Publish] = []
        for room in list(self.rooms.values()):
            for client, member in list(room.members.items()):
                if member.last_seen < deadline:
                    out += self._leave(room, client, "timed out")
        return out

    def _open(self, name: str, now: float) -> Room | None:
        """A new room; past the bound, the empty room quiet for longest makes way."""
        if len(self.rooms) >= self.limits.max_rooms:
            empty = [r for r in self.rooms.values() if not r.members]
            if not empty:
                return None
            del self.rooms[min(empty, key=lambda r: r.last_active).name]
        room = self.rooms[name] = Room(name, deque(maxlen=self.limits.history),
                                       last_active=now)
        return room

    def _leave(self, room: Room, client: str, reason: str) -> list[Publish]:
        member = room.members.pop(client, None)
        if member is None:
            return []
        return [self._notice(room, "leave", client, member.nick, reason=reason)]

    def _notice(self, room: Room, kind: str, client: str, nick: str,
                reason: str | None = None) -> Publish:
        document: dict = {"type": kind, "nick": nick, "client": client}
        if reason is not None:
            document["reason"] = reason
        document["members"] = room.nicks()
        return Publish(ROOM_PREFIX + room.name, _encode(document))


def _refused(reply: str, room: object, reason: str) -> Publish:
    """A refusal; the room is named only when it is a room name (never echo garbage)."""
    return Publish(reply, _encode({"type": "refused",
                                   "room": room if valid_room(room) else None,
                                   "reason": reason}))


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def _load(body: bytes) -> dict | None:
    """A JSON object, or None: not JSON (NaN and Infinity neither), or not an object."""
    try:
        document = json.loads(body, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


class _Listener:
    """A consumer on the hub that hands each message to a function.

    It has the small interface the hub expects of a subscription (`comet_core.hub.Consumer`)
    and is never congested: the service handles a message as it arrives.
    """

    __slots__ = ("destination", "gate", "unacked", "handle", "target")

    def __init__(self, destination: str, handle: Callable[[Message], None]) -> None:
        self.destination = destination
        self.gate = Gate()
        self.unacked = None
        self.handle = handle
        self.target: Topic | Queue | None = None

    def deliver(self, message: Message) -> bool:
        self.handle(message)
        return False

    def ready(self) -> bool:
        return True

    def take(self, message: Message) -> None:
        self.handle(message)


class ChatService:
    """`ChatRooms` attached to a hub: subscribed to the service queue and to each room.

    `clock` gives the time in seconds; the owner calls `tick` every second or so (serve
    does, with a LoopingCall) so that silent members time out.
    """

    def __init__(self, hub: Hub, clock: Callable[[], float],
                 limits: ChatLimits | None = None) -> None:
        self.hub = hub
        self.clock = clock
        self.rooms = ChatRooms(limits)
        self._listeners: dict[str, _Listener] = {}
        self._subscribe(SERVICE, self._on_request)

    def _subscribe(self, destination: str, handle: Callable[[Message], None]) -> None:
        listener = _Listener(destination, handle)
        listener.target = self.hub.subscribe(listener)
        self._listeners[destination] = listener
        if isinstance(listener.target, Queue):
            listener.target.pump()  # requests sent before we were there

    def _on_request(self, message: Message) -> None:
        self._apply(self.rooms.request(message.body, self.clock()))

    def _on_room(self, message: Message) -> None:
        problem = self.rooms.room_message(message.destination, message.body, self.clock())
        if problem is not None:
            log.info("chat: not kept in the history of {room}: {problem}",
                     room=message.destination[len(ROOM_PREFIX):], problem=problem)

    def tick(self) -> None:
        self._apply(self.rooms.tick(self.clock()))

    def _apply(self, publishes: list[Publish]) -> None:
        # Watch new rooms before publishing, so that nothing said there is missed; stop
        # watching rooms the core has forgotten.
        wanted = self.rooms.watched
        for destination in wanted - self._listeners.keys():
            self._subscribe(destination, self._on_room)
        for destination in [d for d in self._listeners if d != SERVICE and d not in wanted]:
            listener = self._listeners.pop(destination)
            if listener.target is not None:
                self.hub.unsubscribe(listener, listener.target)
        for item in publishes:
            self.hub.publish(item.destination,
                             [("content-type", "application/json;charset=utf-8")],
                             item.body)

    def close(self) -> None:
        for listener in self._listeners.values():
            if listener.target is not None:
                self.hub.unsubscribe(listener, listener.target)
        self._listeners.clear()
