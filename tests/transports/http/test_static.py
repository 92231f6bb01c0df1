"""The site's static files: ranges answered in one piece, files closed on every path, what is
public and what is not, and the headers every answer carries.

Twisted's own static files left a file open, and the client without an answer, for a
two-range request whose first piece ends near the end of a 64 KiB read (the second part's
separator pushed the read size below zero); thousands of overlapping ranges made a small file
answer with a body thousands of times its size. The site now answers at most one piece.
The server is the site `serve` builds, in a subprocess that reports the files it holds open
(`site_server`).
"""

from __future__ import annotations

import http.client
import socket

import pytest

from tests.transports.http.site_server import (
    BIG_SIZE,
    PAGE_SIZE,
    WAIT,
    SiteServer,
    site_folder,
    tracebacks,
)

PAGE = bytes(i % 251 for i in range(PAGE_SIZE))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = SiteServer(site_folder(tmp_path_factory.mktemp("site")))
    try:
        yield server
    finally:
        server.stop()


def get(server: SiteServer, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


# --- ranges ----------------------------------------------------------------------------------

@pytest.fixture
def own_server(tmp_path):
    """A server of the test's own: what it leaves open is not left to the next test."""
    server = SiteServer(site_folder(tmp_path))
    try:
        yield server
    finally:
        server.stop()


def test_a_two_range_request_is_answered_and_leaves_no_file_open(own_server):
    # The first piece ends less than a part separator before 64 KiB: Twisted's producer then
    # asked its file for a negative count of bytes, and stopped there for good.
    server = own_server
    status, headers, body = get(server, "/docs/page.html", {"Range": "bytes=0-65379,0-10"})
    assert status == 206
    assert headers["content-range"] == f"bytes 0-65379/{PAGE_SIZE}"
    assert body == PAGE[:65380]
    assert server.fds_once_settled() == 0
    assert tracebacks(server.events_until_now()) == []


def test_many_overlapping_ranges_cannot_inflate_the_answer(own_server):
    server = own_server
    many = ",".join(["0-"] * 2000)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        conn.request("GET", "/docs/page.html", headers={"Range": f"bytes={many}"})
        response = conn.getresponse()
        assert int(response.getheader("Content-Length")) <= PAGE_SIZE
        assert response.read() == PAGE
    finally:
        conn.close()
    assert server.fds_once_settled() == 0


@pytest.mark.parametrize(("ranges", "status", "content_range", "piece"), [
    ("bytes=10-19", 206, f"bytes 10-19/{PAGE_SIZE}", slice(10, 20)),
    ("bytes=-5", 206, f"bytes {PAGE_SIZE - 5}-{PAGE_SIZE - 1}/{PAGE_SIZE}", slice(-5, None)),
    ("bytes=76990-", 206, f"bytes 76990-{PAGE_SIZE - 1}/{PAGE_SIZE}", slice(76990, None)),
    ("bytes=0-9,10-19,15-29", 206, f"bytes 0-29/{PAGE_SIZE}", slice(0, 30)),  # merged
    ("bytes=0-0,100-100", 200, None, slice(None)),  # disjoint: the whole file, not multipart
    ("bytes=20-10", 200, None, slice(None)),  # invalid: ignored
    ("lines=1-2", 200, None, slice(None)),  # another unit: ignored
])
def test_ranges_are_answered_with_at_most_one_piece(server, ranges, status, content_range,
                                                    piece):
    got, headers, body = get(server, "/docs/page.html", {"Range": ranges})
    assert got == status
    assert headers.get("content-range") == content_range
    assert body == PAGE[piece]
    assert int(headers["content-length"]) == len(body)


def test_a_range_past_the_end_is_416_with_a_message(server):
    status, headers, body = get(server, "/docs/page.html", {"Range": "bytes=90000-"})
    assert status == 416
    assert headers["content-range"] == f"bytes */{PAGE_SIZE}"
    assert headers["content-type"].startswith("text/plain")
    assert body.count(b"\n") == 1


def test_a_large_file_is_sent_whole_and_closed(server):
    status, headers, body = get(server, "/docs/big.bin")
    assert status == 200
    assert len(body) == BIG_SIZE == int(headers["content-length"])
    status, _, body = get(server, "/docs/big.bin", {"Range": "bytes=1000-2000999"})
    assert status == 206 and len(body) == 2_000_000
    assert server.fds_once_settled() == 0


def test_a_client_leaving_mid_transfer_leaves_no_file_open(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /docs/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert server.fds() == 1  # the file is being sent
    assert server.fds_once_settled() == 0


# --- what is public --------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/.buildinfo",
    "/.doctrees/environment.pickle",
    "/docs/.secret.html",
    "/docs/__pycache__/conf.cpython-311.pyc",
    "/part06/exercise/solution.js",
    "/part07/exercise/solution.js",
    "/part06/exercise/check.py",
    "/part07/exercise/check.py",
    "/part06/exercise/",
])
def test_what_is_not_public_is_404(server, path):
    status, headers, body = get(server, path)
    assert status == 404
    assert headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("path", ["/part06/hello/", "/part06/hello/hello.js",
                                  "/part07/step1/", "/part07/step4/chat.js", "/chat/",
                                  "/static/comet.js"])
def test_the_pages_of_the_parts_and_the_chat_are_served(server, path):
    assert get(server, path)[0] == 200


def test_a_folder_is_its_index_never_a_listing(server):
    status, headers, _ = get(server, "/docs")
    assert status == 302 and headers["location"] == "/docs/"
    status, _, body = get(server, "/docs/")
    assert status == 200 and b"Comet, step by step" in body
    status, _, body = get(server, "/docs/empty/")
    assert status == 404 and b"empty" not in body


# --- headers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/docs/index.html", "/static/comet.js", "/chat/",
                                  "/part07/step1/", "/nope.html", "/docs/page.html"])
def test_every_answer_says_nosniff(server, path):
    assert get(server, path)[1]["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/chat/", "/chat/chat.js", "/part07/step2/"])
def test_the_app_pages_have_a_content_security_policy_and_cannot_be_framed(server, path):
    headers = get(server, path)[1]
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert headers["x-frame-options"] == "DENY"


def test_types_come_from_the_extension_and_an_unknown_one_is_octet_stream(server):
    assert get(server, "/docs/notes.zzz")[1]["content-type"] == "application/octet-stream"
    assert get(server, "/docs/index.html")[1]["content-type"].startswith("text/html")
    assert get(server, "/static/comet.js")[1]["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/docs/index.html", "/chat/", "/"])
def test_other_methods_on_pages_are_405_with_allow(server, method, path):
    status, headers, body = get(server, path, method=method)
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert body.count(b"\n") == 1


def test_head_and_if_modified_since(server):
    status, headers, body = get(server, "/docs/page.html", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) == PAGE_SIZE
    status, _, body = get(server, "/docs/page.html",
                          {"If-Modified-Since": headers["last-modified"]})
    assert status == 304 and body == b""
    assert server.fds_once_settled() == 0
