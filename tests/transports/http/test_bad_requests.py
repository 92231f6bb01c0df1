"""Bad requests to the site get a 4xx with a one-line text/plain message, and the server
logs no traceback for them.

Malformed paths (a NUL, bytes that are not UTF-8, an overlong UTF-8 ``/``, ``..`` in every
disguise, names too long for the file system) and addresses under the comet mount that name
no endpoint (``/comet`` without its slash) once answered 500, or logged a traceback. The
server is the site `serve` builds, in a subprocess whose log events the test reads
(`site_server`).
"""

from __future__ import annotations

import socket

import pytest

from tests.transports.http.site_server import WAIT, SiteServer, site_folder, tracebacks

BAD_PATHS = [
    "/docs/%00",
    "/docs/index.html%00.js",
    "/docs/%ff%fe",
    "/docs/%c0%af",  # an overlong "/"
    "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/static/..%2f..%2fweb.py",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/web.py",
    "/docs/..%5c..%5cconf.py",
    "/docs/" + "a" * 5000,
    "/docs/" + "/".join(["a" * 200] * 30),
    "/docs//index.html",
    "/docs/page.html/",
    "/docs/page.html/x",
    "/comet",
    "/comet/x/y/z",
    "/comet/%00/poll",
    "/comet/%ff/poll",
    "/comet//",
    "/nope.html",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = SiteServer(site_folder(tmp_path_factory.mktemp("site")))
    try:
        yield server
    finally:
        server.stop()


def raw_request(port: int, head: bytes) -> bytes:
    """`head` sent as is; the whole answer (the server closes after it: Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(head)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def answer(port: int, path: str, method: str = "GET") -> tuple[int, bytes, bytes]:
    data = raw_request(port, f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Connection: close\r\n\r\n".encode())
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head, body


@pytest.mark.parametrize("path", BAD_PATHS)
def test_a_bad_path_gets_a_4xx_with_one_line_and_no_traceback(server, path):
    before = len(server.events_until_now())
    status, head, body = answer(server.port, path)
    assert 400 <= status < 500, (status, body[:200])
    assert b"\r\ncontent-type: text/plain" in head.lower()
    assert body.count(b"\n") == 1 and body.endswith(b"\n")
    assert b"Traceback" not in body
    assert tracebacks(server.events_until_now()[before:]) == []


def test_a_path_leaving_the_folder_never_reaches_a_file_outside(server):
    for path in BAD_PATHS:
        assert b"import" not in answer(server.port, path)[2]


def test_every_bad_request_is_one_line_in_the_log(server):
    before = len(server.events_until_now())
    for path in BAD_PATHS:
        answer(server.port, path)
    events = server.events_until_now()[before:]
    assert tracebacks(events) == []
    assert all("\n" not in event["text"] for event in events)


@pytest.mark.parametrize("path", ["/nope.html", "/docs/%00", "/.buildinfo"])
def test_a_bad_head_request_gets_the_status_and_no_body(server, path):
    before = len(server.events_until_now())
    status, head, body = answer(server.port, path, "HEAD")
    assert 400 <= status < 500
    assert body == b""
    assert int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]) > 0
    events = server.events_until_now()[before:]
    assert tracebacks(events) == []
    assert not [e for e in events if "message body" in e["text"]]  # Twisted's HEAD warning
