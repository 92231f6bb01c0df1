"""Every bound and refusal gives a clear 4xx/5xx with a message: sessions, uploads, hold
time, Origin, unknown sessions, bad parameters, logins."""

import socket

import pytest

from tests.transports.http.support import (
    CometClient,
    frame,
    make_site,
    request,
    serve,
    stomp_frames,
)

ANN = frame("CONNECT", accept_version="1.2", host="h", login="ann", passcode="secret")


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("site"))
    users = site / "users.txt"
    users.write_text("ann:secret\n")
    with serve(site, "--max-sessions", "3", "--max-upload", "1000", "--max-hold", "1",
               "--allow-origin", "http://good.example", "--users", str(users)) as ports:
        yield ports[0]


def test_sessions_past_the_bound_are_refused_with_503(bounded):
    clients = []
    while True:
        status, _, body = request(bounded, "POST", "/comet/")
        if status != 201:
            break
        clients.append(body.decode())
        assert len(clients) <= 3
    assert status == 503 and b"maximum" in body
    for session_id in clients:  # closing one makes room again
        assert request(bounded, "DELETE", f"/comet/{session_id}")[0] == 204
    assert request(bounded, "POST", "/comet/")[0] == 201


def test_an_upload_past_the_bound_is_413_before_its_body_is_read(bounded):
    client = CometClient(bounded)
    with socket.create_connection(("127.0.0.1", bounded), timeout=10) as sock:
        sock.sendall(f"POST /comet/{client.id}/send?offset=0 HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 100000000\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(4096):  # the server answers and closes, body unsent
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"at most 1000 bytes" in answer
    client.upload(ANN)  # nothing was applied: the stream starts at 0 still
    assert client.poll().startswith(b"CONNECTED")
    client.close()


def test_a_chunked_upload_past_the_bound_is_413(bounded):
    client = CometClient(bounded)
    with socket.create_connection(("127.0.0.1", bounded), timeout=10) as sock:
        sock.sendall(f"POST /comet/{client.id}/send?offset=0 HTTP/1.1\r\nHost: x\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        sock.sendall(b"%x\r\n%s\r\n" % (2000, b"x" * 2000))
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    client.close()


def test_a_poll_is_held_no_longer_than_the_bound(bounded):
    client = CometClient(bounded)
    status, _, body = request(bounded, "GET", f"/comet/{client.id}/poll?ack=0&hold=3600")
    assert (status, body) == (200, b"")  # answered (after 1 s, the bound), not held an hour
    client.close()


def test_unknown_sessions_bad_parameters_and_wrong_methods(bounded):
    unknown = "A" * 24
    status, _, body = request(bounded, "GET", f"/comet/{unknown}/poll?ack=0")
    assert status == 404 and b"no session" in body
    assert request(bounded, "GET", "/comet/not-an-id/poll?ack=0")[0] == 404
    client = CometClient(bounded)
    for query in ("", "?ack=", "?ack=-1", "?ack=x", "?ack=99999999999999999999"):
        status, _, body = request(bounded, "GET", f"/comet/{client.id}/poll{query}")
        assert status == 400 and b"ack" in body, (query, status, body)
    status, _, body = request(bounded, "GET", f"/comet/{client.id}/poll?ack=5")
    assert status == 400 and b"impossible" in body  # an ack of bytes never sent
    status, headers, body = request(bounded, "GET", f"/comet/{client.id}/send?offset=0")
    assert status == 405 and "POST" in headers["allow"]
    assert request(bounded, "GET", "/comet/")[0] == 405
    assert request(bounded, "GET", f"/comet/{client.id}/nope")[0] == 404
    assert b"Traceback" not in request(bounded, "GET", f"/comet/{client.id}/poll?ack=x")[2]
    client.close()


def test_a_bad_origin_is_refused_on_every_endpoint(bounded):
    evil = {"Origin": "http://evil.example"}
    client = CometClient(bounded)
    for method, path in [("POST", "/comet/"), ("GET", f"/comet/{client.id}/poll?ack=0"),
                         ("GET", f"/comet/{client.id}/stream?ack=0"),
                         ("GET", f"/comet/{client.id}/sse?ack=0"),
                         ("POST", f"/comet/{client.id}/send?offset=0"),
                         ("DELETE", f"/comet/{client.id}"),
                         ("OPTIONS", f"/comet/{client.id}/send")]:
        status, headers, body = request(bounded, method, path, headers=evil)
        assert status == 403, (method, path, status)
        assert b"may not use" in body
        assert "access-control-allow-origin" not in headers
    client.close()


def test_an_allowed_origin_gets_cors_headers_and_a_preflight(bounded):
    good = {"Origin": "http://good.example"}
    status, headers, _ = request(bounded, "OPTIONS", "/comet/", headers={
        **good, "Access-Control-Request-Method": "POST"})
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://good.example"
    assert "POST" in headers["access-control-allow-methods"]
    client = CometClient(bounded, headers=good)
    status, headers, _ = request(bounded, "GET", f"/comet/{client.id}/poll?ack=0&hold=0",
                                 headers=good)
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://good.example"
    client.close()


def test_the_servers_own_origin_is_allowed(bounded):
    own = {"Origin": f"http://127.0.0.1:{bounded}"}
    client = CometClient(bounded, headers=own)
    client.close()


def test_logins_are_checked_like_tcp(bounded):
    refused = CometClient(bounded)
    refused.upload(frame("CONNECT", accept_version="1.2", host="h", login="ann",
                         passcode="wrong"))
    frames = []
    while refused.closed is None:
        refused.poll()
    frames = stomp_frames(bytes(refused.received))
    assert frames[0].startswith(b"ERROR") and b"not accepted" in frames[0]
    accepted = CometClient(bounded)
    accepted.upload(ANN)
    assert accepted.poll().startswith(b"CONNECTED")
    accepted.close()
