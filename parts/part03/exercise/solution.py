"""Part 3 exercise, solved: a work queue's dispatch, on its own.

The same rules as `comet_core.hub.Queue`, without the broker around them. Check it with
`python -m comet_core check 3 --file parts/part03/exercise/solution.py`; run it to watch a
small scenario: `python parts/part03/exercise/solution.py`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Message:
    body: str
    redelivered: bool = False


@dataclass
class Consumer:
    """A subscriber in client-individual mode: at most `window` messages awaiting its ACK."""

    name: str
    window: int
    unacked: list[Message] = field(default_factory=list)
    #: Everything it was given, in order: (body, redelivered).
    received: list[tuple[str, bool]] = field(default_factory=list)

    def has_room(self) -> bool:
        return len(self.unacked) < self.window


class WorkQueue:
    """One /queue/ destination: each message goes to exactly one consumer."""

    def __init__(self) -> None:
        self.waiting: deque[Message] = deque()  # oldest first
        self.consumers: list[Consumer] = []
        self.turn = 0  # the index in `consumers` where the search for the next one starts

    def subscribe(self, name: str, window: int = 1) -> Consumer:
        consumer = Consumer(name, window)
        self.consumers.append(consumer)
        self.dispatch()
        return consumer

    def unsubscribe(self, name: str) -> None:
        """A consumer leaves: what it had not acknowledged is delivered again to others."""
        consumer = self._find(name)
        self.consumers.remove(consumer)
        self.requeue(consumer.unacked)
        consumer.unacked = []
        self.dispatch()

    def publish(self, body: str) -> None:
        self.waiting.append(Message(body))
        self.dispatch()

    def ack(self, name: str, body: str) -> None:
        consumer = self._find(name)
        consumer.unacked.remove(self._unacked(consumer, body))
        self.dispatch()

    def nack(self, name: str, body: str) -> None:
        """The consumer gives a message back: it goes to the front, for someone else."""
        consumer = self._find(name)
        message = self._unacked(consumer, body)
        consumer.unacked.remove(message)
        self.requeue([message])
        self.dispatch()

    def requeue(self, messages: list[Message]) -> None:
        """Put messages back at the front of the queue, in their order, marked redelivered."""
        for message in reversed(messages):
            message.redelivered = True
            self.waiting.appendleft(message)

    # start-dispatch
    def dispatch(self) -> None:
        """Hand waiting messages, oldest first, to consumers with room, taking turns.

        Each message goes to the next consumer with room, searching from `self.turn` and
        wrapping around; the consumer after the one served is the next one's turn. A message
        given out moves from `self.waiting` to the consumer's `unacked` and is recorded in its
        `received` as (body, redelivered). Stop when nothing waits or nobody has room.
        """
        while self.waiting:
            count = len(self.consumers)
            for step in range(count):
                index = (self.turn + step) % count
                consumer = self.consumers[index]
                if consumer.has_room():
                    break
            else:
                return  # nobody has room (or nobody is subscribed): the messages wait
            self.turn = index + 1
            message = self.waiting.popleft()
            consumer.unacked.append(message)
            consumer.received.append((message.body, message.redelivered))
    # end-dispatch

    def _find(self, name: str) -> Consumer:
        for consumer in self.consumers:
            if consumer.name == name:
                return consumer
        raise KeyError(f"no consumer {name!r}")

    @staticmethod
    def _unacked(consumer: Consumer, body: str) -> Message:
        for message in consumer.unacked:
            if message.body == body:
                return message
        raise KeyError(f"{consumer.name} has no message {body!r} awaiting its ACK")


def demo() -> None:
    queue = WorkQueue()
    for n in range(1, 5):
        queue.publish(f"job-{n}")
    ann = queue.subscribe("ann")
    bob = queue.subscribe("bob")
    try:
        queue.nack("ann", "job-1")  # ann cannot do it: bob is busy, so ann gets it again
        queue.unsubscribe("bob")  # bob leaves with job-2 unacknowledged
        queue.ack("ann", "job-1")
    except KeyError as exc:
        print("stopped:", exc.args[0])
    for consumer in (ann, bob):
        print(consumer.name, consumer.received)
    print("waiting:", [m.body for m in queue.waiting])


if __name__ == "__main__":
    demo()
