"""The comet WebSocket transport (``/comet/ID/ws``) over real connections: STOMP both
ways inside a comet session, switching between ws and long-polling without losing or
repeating a byte, refusals before the upgrade, and bad messages."""

import itertools

import pytest

from tests.transports.http.support import (
    CONNECT,
    CometClient,
    StompTCP,
    body_of,
    frame,
    stomp_frames,
)
from tests.transports.ws.support import Closed, CometWS, Rejected, WSClient

_topics = itertools.count()


def messages(frames: list[bytes]) -> list[bytes]:
    return [body_of(f) for f in frames if f.startswith(b"MESSAGE")]


def subscribed(http_port: int, topic: str) -> tuple[CometClient, CometWS]:
    client = CometClient(http_port)
    ws = CometWS(client)
    ws.upload(CONNECT)
    ws.upload(frame("SUBSCRIBE", id="s", destination=topic, receipt="r"))
    ws.frames_until(lambda f: any(x.startswith(b"RECEIPT") for x in f))
    return client, ws


def test_stomp_both_ways_over_the_comet_websocket(server):
    http_port, stomp_port = server
    topic, back = f"/topic/cws-{next(_topics)}", f"/topic/cws-back-{next(_topics)}"
    client, ws = subscribed(http_port, topic)
    assert stomp_frames(bytes(client.received))[0].startswith(b"CONNECTED")
    assert ws.applied[-1] == client.sent and client.sent > len(CONNECT)
    tcp = StompTCP(stomp_port)
    tcp.subscribe(back)
    tcp.send(frame("SEND", "down", destination=topic))
    assert messages(ws.frames_until(lambda f: messages(f))) == [b"down"]
    ws.upload(frame("SEND", "up", destination=back))
    assert body_of(tcp.next_frame()) == b"up"
    tcp.close()
    ws.ws.close()


def test_switching_between_websocket_and_polling_loses_and_repeats_nothing(server):
    http_port, stomp_port = server
    topic, back = f"/topic/cws-sw-{next(_topics)}", f"/topic/cws-sw-back-{next(_topics)}"
    client, ws = subscribed(http_port, topic)
    tcp = StompTCP(stomp_port)
    tcp.subscribe(back)
    sent = 0

    def publish(count: int) -> None:
        nonlocal sent
        for _ in range(count):
            tcp.send(frame("SEND", f"m{sent}", destination=topic))
            sent += 1

    # Over ws: receive some, then the socket drops with messages unread (never acked).
    publish(5)
    ws.frames_until(lambda f: len(messages(f)) >= 2)
    publish(5)
    ws.ws.drop()
    # Over long-polling: the rest arrives, none twice.
    publish(5)
    client.frames_until(lambda f: len(messages(f)) >= 15)
    # And back to ws, which starts at the poll's ack.
    publish(5)
    ws = CometWS(client)
    ws.frames_until(lambda f: len(messages(f)) >= 20)
    expected = [f"m{i}".encode() for i in range(20)]
    assert messages(stomp_frames(bytes(client.received))) == expected

    # Upstream: an upload over ws whose answer is lost, then the same bytes over HTTP.
    first = frame("SEND", "u0", destination=back)
    ws.upload(first, wait=False)
    ws.ws.drop()
    status, body = client.send(first + frame("SEND", "u1", destination=back))
    assert status == 200
    # And an upload over HTTP whose answer is lost, then the same bytes over ws.
    offset = client.sent
    again = frame("SEND", "u2", destination=back)
    assert client.send(again, offset)[0] == 200
    ws = CometWS(client)
    ws.upload(again + frame("SEND", "u3", destination=back), offset)
    assert [body_of(tcp.next_frame()) for _ in range(4)] == [b"u0", b"u1", b"u2", b"u3"]
    tcp.send(frame("SEND", "last", destination=back, receipt="done"))  # nothing else came
    assert tcp.next_frame().startswith(b"MESSAGE") and tcp.next_frame().startswith(b"RECEIPT")
    tcp.close()


def test_a_newer_request_takes_over_from_the_websocket(server):
    http_port, _ = server
    client, ws = subscribed(http_port, f"/topic/cws-rep-{next(_topics)}")
    client.poll(hold=0)
    with pytest.raises(Closed) as closed:
        while True:
            ws.read_one()
    assert closed.value.code == 1000 and ws.ended and ws.ended[0] == "e"


def test_the_session_ends_with_a_c_record_and_a_close(server):
    http_port, _ = server
    client, ws = subscribed(http_port, f"/topic/cws-end-{next(_topics)}")
    ws.upload(frame("DISCONNECT", receipt="bye"), wait=False)
    with pytest.raises(Closed) as closed:
        while True:
            ws.read_one()
    assert closed.value.code == 1000 and ws.ended and ws.ended[0] == "c"
    assert stomp_frames(bytes(client.received))[-1].startswith(b"RECEIPT")


def test_an_unknown_session_is_404(server):
    with pytest.raises(Rejected) as refused:
        WSClient(server[0], "/comet/" + "A" * 24 + "/ws?ack=0")
    assert refused.value.status == 404


def test_refusals_before_the_upgrade(server):
    http_port, _ = server
    client = CometClient(http_port)
    for path, options, status in [
        (f"/comet/{client.id}/ws?ack=5", {}, 400),                # bytes never sent
        (f"/comet/{client.id}/ws", {}, 400),                      # no ack
        (f"/comet/{client.id}/ws?ack=0", {"subprotocols": ["v12.stomp"]}, 400),
        (f"/comet/{client.id}/ws?ack=0", {"origin": "http://evil.example"}, 403),
    ]:
        with pytest.raises(Rejected) as refused:
            WSClient(http_port, path, **options)
        assert refused.value.status == status, path
    CometWS(client, origin="http://allowed.example").ws.close()


@pytest.mark.parametrize(("message", "code"), [
    (b"hello", 4400), (b"a 99999", 4400), (b"d 99999\nX", 4409), (b"d x\n", 4400),
])
def test_a_bad_message_closes_the_socket_and_the_session_stays(server, message, code):
    http_port, _ = server
    client = CometClient(http_port)
    ws = CometWS(client)
    ws.ws.send(message)
    with pytest.raises(Closed) as closed:
        ws.read_one()
    assert closed.value.code == code and closed.value.reason
    CometWS(client).upload(CONNECT)  # the session goes on
    assert client.sent == len(CONNECT)


def test_a_message_over_the_bound_closes_with_1009(server):
    http_port, _ = server
    client = CometClient(http_port)
    ws = CometWS(client)
    bound = (1 << 20) + (64 << 10) + 32  # the upload bound and its header line
    ws.ws.send(b"d 0\n" + b"x" * (bound + 1 - 4))
    with pytest.raises(Closed) as closed:
        ws.read_one()
    assert closed.value.code == 1009
    CometWS(client).upload(CONNECT)
    assert client.sent == len(CONNECT)
