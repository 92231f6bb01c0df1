"""Long-polling over real connections: STOMP both ways between a comet client and a TCP
client, the hold time, acks, and uploads applied exactly once."""

import itertools

from tests.transports.http.support import (
    CONNECT,
    CometClient,
    StompTCP,
    body_of,
    frame,
    request,
)

_topics = itertools.count()


def connected_client(port: int, transport: str = "poll") -> CometClient:
    client = CometClient(port)
    client.upload(CONNECT)
    client.frames_until(lambda f: any(x.startswith(b"CONNECTED") for x in f), transport)
    return client


def subscribed_client(port: int, topic: str, transport: str = "poll") -> CometClient:
    client = connected_client(port, transport)
    client.upload(frame("SUBSCRIBE", id="0", destination=topic, receipt="r-sub"))
    client.frames_until(lambda f: any(x.startswith(b"RECEIPT") for x in f), transport)
    return client


def messages(frames: list[bytes]) -> list[bytes]:
    return [body_of(f) for f in frames if f.startswith(b"MESSAGE")]


def test_a_comet_client_gets_what_a_tcp_client_sends(server):
    http_port, stomp_port = server
    topic = f"/topic/lp-{next(_topics)}"
    client = subscribed_client(http_port, topic)
    publisher = StompTCP(stomp_port)
    publisher.send(frame("SEND", "hello from TCP", destination=topic))
    frames = client.frames_until(lambda f: messages(f))
    assert messages(frames) == [b"hello from TCP"]
    publisher.close()


def test_a_tcp_client_gets_what_a_comet_client_sends(server):
    http_port, stomp_port = server
    topic = f"/topic/lp-{next(_topics)}"
    subscriber = StompTCP(stomp_port)
    subscriber.subscribe(topic)
    client = connected_client(http_port)
    client.upload(frame("SEND", "hello from HTTP", destination=topic))
    got = subscriber.next_frame()
    assert got.startswith(b"MESSAGE") and body_of(got) == b"hello from HTTP"
    subscriber.close()


def test_a_held_poll_is_answered_empty_after_its_hold_time(server):
    http_port, _ = server
    client = connected_client(http_port)
    status, _, body = request(http_port, "GET",
                              f"/comet/{client.id}/poll?ack={client.held}&hold=1")
    assert (status, body) == (200, b"")


def test_a_retried_upload_is_applied_once(server):
    http_port, stomp_port = server
    topic = f"/topic/lp-{next(_topics)}"
    subscriber = StompTCP(stomp_port)
    subscriber.subscribe(topic)
    client = connected_client(http_port)
    first = frame("SEND", "once", destination=topic)
    offset = client.sent
    assert client.send(first, offset)[0] == 200
    # The answer was "lost": the client sends the same bytes again, then more.
    second = frame("SEND", "twice", destination=topic)
    status, body = client.send(first + second, offset)
    assert (status, int(body)) == (200, offset + len(first) + len(second))
    assert body_of(subscriber.next_frame()) == b"once"
    assert body_of(subscriber.next_frame()) == b"twice"
    subscriber.close()


def test_an_upload_past_the_applied_bytes_is_a_409_with_the_count(server):
    http_port, _ = server
    client = connected_client(http_port)
    status, body = client.send(b"SEND\n", client.sent + 10)
    assert status == 409
    assert f"resend from {client.sent}".encode() in body


def test_a_poll_resends_what_was_not_acknowledged(server):
    http_port, _ = server
    client = CometClient(http_port)
    client.upload(CONNECT)
    first = client.poll()
    assert first.startswith(b"CONNECTED")
    # The answer is lost: ask again with the old ack and get the same bytes.
    client.held, client.received = 0, bytearray()
    assert client.poll() == first


def test_close_ends_the_session_and_its_held_poll(server):
    http_port, _ = server
    client = connected_client(http_port)
    assert client.close() == 204
    status, _, body = request(http_port, "GET", f"/comet/{client.id}/poll?ack={client.held}")
    assert status == 404 and b"no session" in body
