"""Raw STOMP over WebSocket at ``/stomp``, with a real WebSocket client over real
connections: subprotocols, the shared broker, Origin, bounds, errors, heart-beats."""

import itertools

import pytest

from tests.transports.http.support import StompTCP, body_of, frame
from tests.transports.ws.support import Closed, Rejected, WSClient

_topics = itertools.count()


def frames_of(client: WSClient, count: int) -> list[bytes]:
    """The next `count` STOMP frames (heart-beat EOL messages skipped)."""
    buffer, frames = b"", []
    while len(frames) < count:
        message = client.receive()
        buffer += message.encode() if isinstance(message, str) else message
        while b"\0" in buffer:
            head, buffer = buffer.split(b"\0", 1)
            frames.append(head.lstrip(b"\r\n"))
    return frames


def connect(port: int, **headers: str) -> WSClient:
    client = WSClient(port, "/stomp", subprotocols=["v12.stomp"])
    headers.setdefault("accept_version", "1.2")
    client.send(frame("CONNECT", host="localhost", heart_beat="0,0", **headers).decode())
    assert frames_of(client, 1)[0].startswith(b"CONNECTED")
    return client


@pytest.mark.parametrize(("offered", "version"), [
    (["v10.stomp"], "1.0"), (["v11.stomp"], "1.1"), (["v12.stomp"], "1.2"),
    ([], "1.2"), (["v10.stomp", "v12.stomp", "v11.stomp"], "1.2"),
])
def test_connect_with_each_subprotocol(server, offered, version):
    http_port, _ = server
    client = WSClient(http_port, "/stomp", subprotocols=offered)
    expected = max(offered) if offered else None  # the highest one offered, or none
    assert client.subprotocol == expected
    accept = {"1.0": "1.0", "1.1": "1.0,1.1", "1.2": "1.0,1.1,1.2"}[version]
    client.send(frame("CONNECT", accept_version=accept, host="localhost"))  # binary works too
    connected = frames_of(client, 1)[0]
    assert connected.startswith(b"CONNECTED")
    assert f"version:{version}".encode() in connected
    client.close()


def test_a_client_offering_only_other_subprotocols_is_refused(server):
    with pytest.raises(Rejected) as refused:
        WSClient(server[0], "/stomp", subprotocols=["mqtt"])
    assert refused.value.status == 400
    assert b"v12.stomp" in refused.value.body


def test_messages_cross_between_websocket_and_tcp(server):
    http_port, stomp_port = server
    down, up = f"/topic/ws-down-{next(_topics)}", f"/topic/ws-up-{next(_topics)}"
    client = connect(http_port)
    client.send(frame("SUBSCRIBE", id="s", destination=down, receipt="r").decode())
    assert frames_of(client, 1)[0].startswith(b"RECEIPT")
    tcp = StompTCP(stomp_port)
    tcp.subscribe(up)
    tcp.send(frame("SEND", "to the browser", destination=down))
    message = frames_of(client, 1)[0]
    assert message.startswith(b"MESSAGE") and body_of(message) == b"to the browser"
    # A frame split across two messages is one frame.
    data = frame("SEND", "from the browser", destination=up)
    client.send(data[:10])
    client.send(data[10:])
    assert body_of(tcp.next_frame()) == b"from the browser"
    tcp.close()
    client.close()


def test_output_that_is_not_utf8_goes_as_a_binary_message(server):
    http_port, _ = server
    topic = f"/topic/ws-bin-{next(_topics)}"
    client = connect(http_port)
    client.send(frame("SUBSCRIBE", id="s", destination=topic, receipt="r").decode())
    frames_of(client, 1)
    client.send(b"SEND\ndestination:" + topic.encode() + b"\n\n\xff\xfe\0")
    message = client.receive()
    assert isinstance(message, bytes) and message.endswith(b"\n\n\xff\xfe\0")
    client.close()


@pytest.mark.parametrize("origin", ["http://allowed.example", "SAME"])
def test_allowed_origins_may_connect(server, origin):
    http_port, _ = server
    if origin == "SAME":
        origin = f"http://127.0.0.1:{http_port}"
    client = WSClient(http_port, "/stomp", origin=origin)
    client.close()


def test_a_bad_origin_is_refused_before_the_upgrade(server):
    with pytest.raises(Rejected) as refused:
        WSClient(server[0], "/stomp", subprotocols=["v12.stomp"], origin="http://evil.example")
    assert refused.value.status == 403
    assert b"evil.example" in refused.value.body


def test_a_message_over_the_bound_gets_error_then_1009(server):
    client = connect(server[0])
    head = b"SEND\ndestination:/topic/big\n\n"
    bound = (1 << 20) + (128 << 10)  # the frame bound (1 MiB + 64 KiB) and 64 KiB more
    client.send(head + b"x" * (bound + 1 - len(head)))  # just over: the server reads it all
    error = frames_of(client, 1)[0]
    assert error.startswith(b"ERROR") and b"message:message too large" in error
    with pytest.raises(Closed) as closed:
        client.receive()
    assert closed.value.code == 1009


def test_garbage_gets_error_then_close(server):
    client = connect(server[0])
    client.send("NONSENSE\n\n\0")
    error = frames_of(client, 1)[0]
    assert error.startswith(b"ERROR")
    with pytest.raises(Closed) as closed:
        client.receive()
    assert closed.value.code == 1002


def test_disconnect_closes_with_1000(server):
    client = connect(server[0])
    client.send(frame("DISCONNECT", receipt="bye").decode())
    assert frames_of(client, 1)[0].startswith(b"RECEIPT")
    with pytest.raises(Closed) as closed:
        client.receive()
    assert closed.value.code == 1000


def test_heart_beats_are_eol_messages(server):
    client = WSClient(server[0], "/stomp", subprotocols=["v12.stomp"])
    client.send(frame("CONNECT", accept_version="1.2", host="localhost", heart_beat="0,1"))
    assert frames_of(client, 1)[0].startswith(b"CONNECTED")
    assert client.receive() == "\n"  # the server's beat, at its own interval
    client.close()


def test_a_plain_http_get_is_refused_with_a_message(server):
    from tests.transports.http.support import request

    status, _, body = request(server[0], "GET", "/stomp")
    assert status == 400 and b"WebSocket" in body


def test_a_client_that_does_not_read_is_a_slow_consumer(server):
    """Past the transport's buffer the output stays in the session, bounded: the session
    ends with ERROR "slow consumer" and close code 1008, and the publisher goes on."""
    import threading

    http_port, stomp_port = server
    topic = f"/topic/ws-slow-{next(_topics)}"
    client = connect(http_port)
    client.send(frame("SUBSCRIBE", id="s", destination=topic, receipt="r").decode())
    frames_of(client, 1)
    publisher = StompTCP(stomp_port)
    body = "x" * (64 << 10)
    done = threading.Event()

    def publish() -> None:  # a thread: the broker may make this publisher wait
        try:
            for _ in range(400):  # 25 MiB: more than socket buffers and the session bound
                publisher.send(frame("SEND", body, destination=topic))
            publisher.send(frame("SEND", "end", destination=topic, receipt="sent"))
            while not publisher.next_frame().startswith(b"RECEIPT"):
                pass
        finally:
            done.set()

    threading.Thread(target=publish, daemon=True).start()
    assert done.wait(60), "the publisher was held up by a client that does not read"
    with pytest.raises(Closed) as closed:
        while True:
            last = frames_of(client, 1)[0]
    assert last.startswith(b"ERROR") and b"message:slow consumer" in last
    assert closed.value.code == 1008
    publisher.close()


def test_logins_are_checked_as_over_tcp(tmp_path):
    from tests.transports.http.support import make_site, serve

    users = tmp_path / "users"
    users.write_text("ann:secret\n")
    with serve(make_site(tmp_path / "site"), "--users", str(users)) as (http_port, _, _):
        client = connect(http_port, login="ann", passcode="secret")
        client.close()
        client = WSClient(http_port, "/stomp", subprotocols=["v12.stomp"])
        client.send(frame("CONNECT", accept_version="1.2", host="localhost", login="ann",
                          passcode="wrong"))
        error = frames_of(client, 1)[0]
        assert error.startswith(b"ERROR") and b"message:login refused" in error
        with pytest.raises(Closed) as closed:
            client.receive()
        assert closed.value.code == 1008
