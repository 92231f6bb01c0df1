"""Churn: many comet clients keep dropping and reopening requests, switching between
long-poll, XHR streaming and SSE, while a TCP publisher sends thousands of messages; every
client must end with exactly the sequence that was sent, nothing lost, nothing repeated."""

import http.client
import random
import threading
import time

from tests.transports.http.support import (
    TIMEOUT,
    Records,
    SSEParser,
    StompTCP,
    body_of,
    decode_event,
    frame,
    stomp_frames,
)
from tests.transports.http.test_longpoll import subscribed_client

CLIENTS = 24
MESSAGES = 2000
TOPIC = "/topic/churn"


def wander(client, rng: random.Random, want: int, deadline: float) -> None:
    """Read downstream in random, often interrupted, ways until `want` frames are held."""
    while client.received.count(b"\0") < want:
        assert time.monotonic() < deadline, "churn client ran out of time"
        kind = rng.choice(["poll", "stream", "sse"])
        if kind == "poll":
            if rng.random() < 0.25:  # give up on a poll: send it, drop the connection
                conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=TIMEOUT)
                conn.request("GET", f"/comet/{client.id}/poll?ack={client.held}")
                conn.close()
            else:
                client.poll()
            continue
        response = client.open_stream(kind, recycle=rng.choice([None, 2000]))
        records, events = Records(), SSEParser()
        try:
            for _ in range(rng.randint(1, 4)):  # then drop it, maybe mid-record
                data = response.read1(rng.choice([100, 1000, 65536]))
                if not data:
                    break
                if kind == "stream":
                    client.apply(records.feed(data))
                else:
                    for event, payload, _ in events.feed(data):
                        if event in ("message", "b"):
                            client.take(client.held, decode_event(event, payload))
                if client.received.count(b"\0") >= want:
                    break
        finally:
            response.conn.close()


def test_every_client_gets_every_message_once_in_order_through_churn(server):
    http_port, stomp_port = server
    clients = [subscribed_client(http_port, TOPIC) for _ in range(CLIENTS)]
    frames_before = [c.received.count(b"\0") for c in clients]
    publisher = StompTCP(stomp_port)
    sent = [f"message {n}".encode() for n in range(MESSAGES)]

    def publish() -> None:
        for n, body in enumerate(sent):
            publisher.send(frame("SEND", body.decode(), destination=TOPIC))
            if n % 100 == 99:  # now and then wait for the broker, so that clients churn
                publisher.send(frame("SEND", "", destination="/topic/none", receipt=str(n)))
                assert publisher.next_frame().startswith(b"RECEIPT")

    deadline = time.monotonic() + 240
    errors: list[BaseException] = []

    def run(client, seed: int, before: int) -> None:
        try:
            wander(client, random.Random(seed), before + MESSAGES, deadline)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c, n, b), daemon=True)
               for n, (c, b) in enumerate(zip(clients, frames_before, strict=True))]
    for thread in threads:
        thread.start()
    publish()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic()))
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "some clients never got everything"
    for client in clients:
        got = [body_of(f) for f in stomp_frames(bytes(client.received))
               if f.startswith(b"MESSAGE")]
        assert got == sent
    publisher.close()
