"""XHR streaming and Server-Sent Events over real connections: STOMP both ways, recycling,
``Last-Event-ID`` resume, bytes that are not UTF-8."""

import itertools

import pytest

from tests.transports.http.support import (
    CometClient,
    Records,
    SSEParser,
    StompTCP,
    body_of,
    decode_event,
    frame,
    stomp_frames,
)
from tests.transports.http.test_longpoll import connected_client, messages, subscribed_client

_topics = itertools.count()


@pytest.mark.parametrize("kind", ["stream", "sse"])
def test_a_stream_carries_messages_from_a_tcp_client(server, kind):
    http_port, stomp_port = server
    topic = f"/topic/st-{kind}-{next(_topics)}"
    client = subscribed_client(http_port, topic, kind)
    publisher = StompTCP(stomp_port)
    publisher.send(frame("SEND", "one", destination=topic))
    publisher.send(frame("SEND", "two", destination=topic))
    frames = client.frames_until(lambda f: len(messages(f)) == 2, kind)
    assert messages(frames) == [b"one", b"two"]
    publisher.close()


@pytest.mark.parametrize("kind", ["stream", "sse"])
def test_a_tcp_client_gets_what_a_streaming_client_sends(server, kind):
    http_port, stomp_port = server
    topic = f"/topic/st-up-{next(_topics)}"
    subscriber = StompTCP(stomp_port)
    subscriber.subscribe(topic)
    client = connected_client(http_port, kind)
    client.upload(frame("SEND", f"from {kind}", destination=topic))
    assert body_of(subscriber.next_frame()) == f"from {kind}".encode()
    subscriber.close()


def test_one_stream_carries_many_messages_then_is_recycled(server):
    http_port, stomp_port = server
    topic = f"/topic/st-rec-{next(_topics)}"
    client = subscribed_client(http_port, topic)
    publisher = StompTCP(stomp_port)
    response = client.open_stream("stream", recycle=300)
    records, ended, sent = Records(), [], 0
    while not ended:  # one message at a time, each read from the same response
        publisher.send(frame("SEND", f"m{sent}", destination=topic))
        sent += 1
        while not ended and len(messages(stomp_frames(bytes(client.received)))) < sent:
            data = response.read1(65536)
            assert data, "the stream ended without an e record"
            ended = client.apply(records.feed(data))
    assert ended == ["e"]
    assert response.read() == b""  # the response is complete after the e record
    assert sent >= 2  # more than one message in one response, and recycled
    for n in range(sent, 10):
        publisher.send(frame("SEND", f"m{n}", destination=topic))
    client.frames_until(lambda f: len(messages(f)) == 10, "stream")
    assert messages(stomp_frames(bytes(client.received))) == [f"m{n}".encode()
                                                              for n in range(10)]
    publisher.close()


def test_sse_resumes_from_last_event_id(server):
    http_port, stomp_port = server
    topic = f"/topic/sse-{next(_topics)}"
    client = subscribed_client(http_port, topic, "sse")
    publisher = StompTCP(stomp_port)
    publisher.send(frame("SEND", "first", destination=topic))
    response = client.open_stream("sse")
    parser = SSEParser()
    events = []
    while not events:
        events = parser.feed(response.read1(65536))
    response.conn.close()
    kind, data, last_id = events[0]
    assert int(last_id) == client.held + len(decode_event(kind, data))
    publisher.send(frame("SEND", "second", destination=topic))
    # The browser reconnects with the URL it had (an old ack) and Last-Event-ID.
    response = client.open_stream("sse", last_event_id=last_id)
    parser, events = SSEParser(), []
    while not events:
        events = parser.feed(response.read1(65536))
    response.conn.close()
    assert [body_of(f) for f in stomp_frames(decode_event(*events[0][:2]))] == [b"second"]
    publisher.close()


def test_sse_carries_bytes_that_are_not_utf8_as_base64(server):
    http_port, stomp_port = server
    topic = f"/topic/sse-bin-{next(_topics)}"
    client = subscribed_client(http_port, topic, "sse")
    publisher = StompTCP(stomp_port)
    body = bytes([0xFF, 0xFE, 0x0D, 0x0A, 0x80])
    publisher.send(b"SEND\ndestination:%s\ncontent-length:%d\n\n%s\0"
                   % (topic.encode(), len(body), body))
    response = client.open_stream("sse")
    parser, events = SSEParser(), []
    while not events:
        events = parser.feed(response.read1(65536))
    response.conn.close()
    kind, data, _ = events[0]
    assert kind == "b"
    assert decode_event(kind, data).split(b"\n\n", 1)[1] == body + b"\0"


def test_a_new_request_replaces_the_stream(server):
    http_port, _ = server
    client = connected_client(http_port)
    response = client.open_stream("stream")
    client.poll(hold=1)  # takes the session over
    records, ends = Records(), []
    while not ends:
        ends = client.apply(records.feed(response.read1(65536)))
    assert ends == ["e"]
    assert response.read() == b""
    CometClient  # noqa: B018 (imported for the reader: the client the tests drive)
