"""Destinations: where a SEND goes and who receives it.

The hub knows two kinds of destination, chosen by the name's prefix:

``/topic/NAME``
    Publish/subscribe. Every message goes to every subscriber present at that moment, and
    to nobody when there are none (nothing is stored). Delivery is at most once: a topic
    message is never redelivered, and NACK on it simply drops it.
``/queue/NAME``
    Point to point. Each message goes to exactly one subscriber, taking turns round-robin
    among the subscribers ready for more (outbound buffer under its bound, unacknowledged
    window not full). Messages that arrive when nobody can take them wait in the queue, up
    to a bound (`HubLimits`); a SEND past the bound is refused with an ERROR "queue full"
    and the message is not stored: a publisher always learns that a message was not kept.
    A message NACKed, or left unacknowledged by a subscriber that unsubscribes or
    disconnects, goes back to the front of the queue and is delivered again with a
    ``redelivered:true`` header.

Any other name is refused with an ERROR that explains the two prefixes: a typo is an error
you see, not a topic nobody listens to. (``HubLimits.other_destinations`` can make other
names topics or queues instead.)

Flow control: a publisher is not refused just because consumers are slow. When a SEND
finds a topic subscriber over its soft outbound bound, or a queue with subscribers that
has filled past half its bound, the hub makes the publisher wait at that consumer's or
queue's `Gate`: its session stops reading frames until the gate opens (the backlog has
drained). A queue's publishers thus go at the pace of its consumers, and a queue message
is never dropped. A topic's wait is short: a subscriber may stay behind for at most its
``slow_consumer_timeout`` (1 s), and is then disconnected with ERROR "slow consumer",
which opens its gate; so one subscriber that stops reading holds up a topic, and every
other subscriber of it, for that long at most (and a publisher waits for topic
subscribers one such time in ten at most, see `comet_core.stomp.session`). Any wait
also ends after the publisher's ``flow_timeout``; then the gate `expires` and holds
nobody until it next opens, and the hard bounds apply: a session past its hard outbound
bound is disconnected with ERROR "slow consumer", a full queue refuses the SEND with
ERROR "queue full". Memory stays bounded either way.

The hub is sans-IO too: it is driven by the sessions, and it delivers by appending bytes to
their outbound buffers. Consumers are `comet_core.stomp.session.Subscription` objects, used
through the small duck-typed interface described in `Consumer`.
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from comet_core.budget import MemoryBudget
from comet_core.flow import Gate, Publisher
from comet_core.stomp.errors import StompError
from comet_core.stomp.frames import encode_frame

TOPIC_PREFIX = "/topic/"
QUEUE_PREFIX = "/queue/"

#: Bytes a stored message costs beyond its headers and body (objects, dict slots); counted
#: against the queue bounds so that a flood of empty messages is bounded too.
MESSAGE_OVERHEAD = 200


class DestinationError(StompError):
    """A destination refused a SEND or a SUBSCRIBE; the session answers with an ERROR."""


class QueueFull(DestinationError):
    """A queue is at its bound; the message was not stored."""


@dataclass(frozen=True, slots=True)
class HubLimits:
    """The hub's bounds and naming policy.

    Queue bounds count messages waiting in the queue, not messages out with a consumer
    awaiting its ACK (those are bounded by each subscription's prefetch window). Messages
    coming back for redelivery are always taken back, even past the bounds, so a bound
    never loses a message the queue had already accepted.
    """

    max_queue_messages: int = 10_000
    max_queue_bytes: int = 16 << 20
    #: All queues together, so that many small queues cannot add up without bound.
    max_queued_bytes: int = 256 << 20
    #: What a name outside /topic/ and /queue/ means: refused (the default), or a kind.
    other_destinations: Literal["refuse", "topic", "queue"] = "refuse"


class Consumer(Protocol):
    """What the hub needs from a subscription."""

    destination: str
    gate: Gate
    unacked: dict[str, Message | None] | None

    def deliver(self, message: Message) -> bool:
        """Topic delivery; True when the consumer is now congested (the publisher waits)."""
        ...

    def ready(self) -> bool:
        """May this consumer take a queue message now?"""
        ...

    def take(self, message: Message) -> None:
        """Queue delivery (only called when `ready`)."""
        ...


class Message:
    """One published message, shared by every subscriber it goes to.

    It keeps its MESSAGE frame encoded once per protocol version, without the command line
    and the per-subscriber headers (``subscription``, ``ack``): a subscription writes its
    own prefix ``MESSAGE\\nsubscription:ID\\n`` and then these shared bytes, so a fan-out to
    many subscribers encodes the message once, not once per subscriber.
    """

    __slots__ = ("destination", "message_id", "headers", "body", "size", "redelivered",
                 "_encoded")

    def __init__(self, destination: str, message_id: str, headers: list[tuple[str, str]],
                 body: bytes) -> None:
        self.destination = destination
        self.message_id = message_id
        self.headers = headers
        self.body = body
        self.redelivered = False
        self.size = MESSAGE_OVERHEAD + len(body) + len(destination) + sum(
            len(name) + len(value) for name, value in headers)
        self._encoded: dict[str, bytes] | None = None

    def encoded(self, version: str) -> bytes:
        """The frame's bytes after ``MESSAGE\\n``, for a subscriber speaking `version`."""
        cache = self._encoded
        if cache is None:
            cache = self._encoded = {}
        else:
            data = cache.get(version)
            if data is not None:
                return data
        headers = [("destination", self.destination), ("message-id", self.message_id)]
        if self.redelivered:
            headers.append(("redelivered", "true"))
        headers += self.headers
        try:
            frame = encode_frame("MESSAGE", headers, self.body, version)
        except ValueError:
            # A header this version cannot carry (say a line break in a 1.0 value, which
            # has no escapes) is left out rather than break the frame for everyone.
            headers = [h for h in headers if _writable(h, version)]
            frame = encode_frame("MESSAGE", headers, self.body, version)
        data = cache[version] = frame[len(b"MESSAGE\n"):]
        return data

    def mark_redelivered(self) -> None:
        if not self.redelivered:
            self.redelivered = True
            self._encoded = None


def _writable(header: tuple[str, str], version: str) -> bool:
    try:
        encode_frame("MESSAGE", [header], b"", version)
    except ValueError:
        return False
    return True


class Topic:
    """Subscribers of one /topic/ name: a tuple, replaced on (un)subscribe.

    Replacing the tuple rather than mutating a list lets a fan-out loop run over it while a
    delivery disconnects a slow consumer, with no copy per message.
    """

    __slots__ = ("name", "subscribers")
    kind = "topic"

    def __init__(self, name: str) -> None:
        self.name = name
        self.subscribers: tuple[Consumer, ...] = ()


class Queue:
    """Messages of one /queue/ name waiting for a subscriber, and its subscribers."""

    __slots__ = ("name", "hub", "messages", "size", "consumers", "turn", "gate")
    kind = "queue"

    def __init__(self, name: str, hub: Hub) -> None:
        self.name = name
        self.hub = hub
        self.messages: deque[Message] = deque()
        self.size = 0
        self.consumers: list[Consumer] = []
        self.turn = 0
        self.gate = Gate()

    def _next_ready(self) -> Consumer | None:
        consumers = self.consumers
        count = len(consumers)
        for step in range(count):
            index = (self.turn + step) % count
            consumer = consumers[index]
            if consumer.ready():
                self.turn = index + 1
                return consumer
        return None

    def offer(self, message: Message, publisher: Publisher | None) -> None:
        """Hand `message` to a ready subscriber, or store it; QueueFull past the bounds."""
        if not self.messages and self.consumers:
            consumer = self._next_ready()
            if consumer is not None:
                consumer.take(message)
                return
        limits = self.hub.limits
        if len(self.messages) >= limits.max_queue_messages:
            raise QueueFull("queue full", (
                f"{self.name} already holds {len(self.messages)} messages, its bound; this "
                "message was not stored. Add or speed up its subscribers, or retry later."))
        if (self.size + message.size > limits.max_queue_bytes
                or self.hub.queued_bytes + message.size > limits.max_queued_bytes):
            raise QueueFull("queue full", (
                f"{self.name} has no room for {message.size} more bytes (the queue bound is "
                f"{limits.max_queue_bytes} bytes, all queues together "
                f"{limits.max_queued_bytes}); this message was not stored."))
        self._push(message)
        if self.consumers:
            self.pump()
        if (publisher is not None and self.consumers
                and (len(self.messages) > limits.max_queue_messages // 2
                     or self.size > limits.max_queue_bytes // 2)):
            self.gate.hold(publisher)

    def _push(self, message: Message) -> None:
        self.messages.append(message)
        self.size += message.size
        self.hub.queued_bytes += message.size

    def requeue(self, messages: Iterable[Message]) -> None:
        """Put unacknowledged messages back at the front, in their order, for redelivery."""
        back = list(messages)
        for message in back:
            message.mark_redelivered()
            self.size += message.size
            self.hub.queued_bytes += message.size
        self.messages.extendleft(reversed(back))

    def pump(self) -> None:
        """Deliver waiting messages to ready subscribers; open the gate once drained."""
        messages = self.messages
        while messages:
            consumer = self._next_ready()
            if consumer is None:
                break
            message = messages.popleft()
            self.size -= message.size
            self.hub.queued_bytes -= message.size
            consumer.take(message)
        limits = self.hub.limits
        if self.gate.armed and (not self.consumers or (
                len(messages) <= limits.max_queue_messages // 4
                and self.size <= limits.max_queue_bytes // 4)):
            self.gate.open()
        if not messages and not self.consumers:
            self.hub._forget(self)


class Hub:
    """All destinations of one broker process.

    Sessions call `subscribe`, `unsubscribe` and `publish`; the hub calls back into the
    subscriptions to deliver. Nothing here does I/O or reads a clock.
    """

    def __init__(self, limits: HubLimits | None = None) -> None:
        self.limits = limits or HubLimits()
        self.topics: dict[str, Topic] = {}
        self.queues: dict[str, Queue] = {}
        #: Bytes waiting in all queues (`HubLimits.max_queued_bytes` bounds it).
        self.queued_bytes = 0
        #: The memory budget (`comet_core.budget.MemoryBudget`) that the sessions on this
        #: hub charge their buffers to; None: no global budget. The server sets it.
        self.budget: MemoryBudget | None = None
        self._ids = itertools.count(1)
        # Message ids only need to be unique among this process's messages; the prefix
        # keeps two broker runs from reusing the same ids.
        self._id_prefix = secrets.token_hex(4) + "-"

    def kind(self, destination: str) -> Literal["topic", "queue"]:
        """'topic' or 'queue' for a destination name; DestinationError if it is neither."""
        if destination.startswith(TOPIC_PREFIX):
            kind: Literal["topic", "queue", "refuse"] = "topic"
            name = destination[len(TOPIC_PREFIX):]
        elif destination.startswith(QUEUE_PREFIX):
            kind = "queue"
            name = destination[len(QUEUE_PREFIX):]
        else:
            kind = self.limits.other_destinations
            name = destination
        if kind == "refuse":
            raise DestinationError("unknown destination", (
                f"{destination!r} is not a destination of this broker. Use /topic/NAME (every "
                "subscriber gets each message) or /queue/NAME (one subscriber gets each "
                "message, others wait their turn)."))
        if not name:
            raise DestinationError("empty destination name",
                                   f"{destination!r} needs a name after the prefix.")
        if not destination.isprintable():
            raise DestinationError("bad destination name",
                                   "Destination names may not contain control characters.")
        return kind

    def subscribe(self, consumer: Consumer) -> Topic | Queue:
        """Attach a consumer to its destination; the caller pumps a queue when it is ready."""
        destination = consumer.destination
        if self.kind(destination) == "topic":
            topic = self.topics.get(destination)
            if topic is None:
                topic = self.topics[destination] = Topic(destination)
            topic.subscribers = (*topic.subscribers, consumer)
            return topic
        queue = self._queue(destination)
        queue.consumers.append(consumer)
        return queue

    def unsubscribe(self, consumer: Consumer, target: Topic | Queue) -> None:
        """Detach a consumer; a queue gets its unacknowledged messages back for redelivery."""
        if isinstance(target, Topic):
            target.subscribers = tuple(s for s in target.subscribers if s is not consumer)
            if not target.subscribers and self.topics.get(target.name) is target:
                del self.topics[target.name]
            return
        unacked = consumer.unacked
        if unacked:
            target.requeue(m for m in unacked.values() if m is not None)
            unacked.clear()
        if consumer in target.consumers:
            target.consumers.remove(consumer)
        target.pump()

    def publish(self, destination: str, headers: list[tuple[str, str]], body: bytes,
                publisher: Publisher | None = None) -> Message:
        """Deliver a message to a destination's subscribers (or store it in a queue).

        `headers` are the sender's own headers for the MESSAGE frames (the session has
        already removed those the server owns). Raises DestinationError (bad name) or
        QueueFull; a congested consumer or queue makes `publisher` wait at its gate.
        """
        topic = self.topics.get(destination)
        if topic is not None:
            message = Message(destination, self._new_id(), headers, body)
            for consumer in topic.subscribers:
                if consumer.deliver(message) and publisher is not None:
                    consumer.gate.hold(publisher)
            return message
        queue = self.queues.get(destination)
        if queue is None:
            if self.kind(destination) == "topic":
                # Nobody is subscribed: the message goes nowhere, as topics promise.
                return Message(destination, self._new_id(), headers, body)
            queue = self._queue(destination)
        message = Message(destination, self._new_id(), headers, body)
        try:
            queue.offer(message, publisher)
        finally:
            if not queue.messages and not queue.consumers:
                self._forget(queue)
        return message

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids)}"

    def _queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = Queue(name, self)
        return queue

    def _forget(self, queue: Queue) -> None:
        if self.queues.get(queue.name) is queue:
            del self.queues[queue.name]

    def stats(self) -> dict[str, int]:
        """Counts for monitoring: destinations, subscribers, messages waiting in queues."""
        return {
            "topics": len(self.topics),
            "queues": len(self.queues),
            "topic_subscribers": sum(len(t.subscribers) for t in self.topics.values()),
            "queue_subscribers": sum(len(q.consumers) for q in self.queues.values()),
            "queued_messages": sum(len(q.messages) for q in self.queues.values()),
            "queued_bytes": self.queued_bytes,
        }
