"""`serve`: the built site over HTTP, from the project's own Twisted server."""

import http.client
import re
import signal
import socket

import pytest

from tests.helpers import running

SERVING = re.compile(rb"Serving the site at http://(\d+\.\d+\.\d+\.\d+):(\d+)/")


@pytest.fixture
def site(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("<h1>Comet, step by step</h1>")
    (tmp_path / "_static").mkdir()
    return tmp_path


def get(port: int, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_serves_the_site_and_redirects_the_root_to_the_home_page(site):
    with running(["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site)]) as server:
        m = server.wait_for(SERVING)
        port = int(m.group(2))
        home = get(port, "/")
        assert home.status in (301, 302, 303, 307, 308)
        assert home.getheader("Location").endswith("/docs/index.html")
        page = get(port, "/docs/index.html")
        assert page.status == 200
        assert b"Comet, step by step" in page.body


def test_missing_pages_and_folders_give_404_without_a_listing(site):
    with running(["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site)]) as server:
        port = int(server.wait_for(SERVING).group(2))
        assert get(port, "/nope.html").status == 404
        listing = get(port, "/_static/")
        assert listing.status == 404
        assert b"Directory listing" not in listing.body


def test_ctrl_c_stops_it_cleanly(site):
    with running(["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site)]) as server:
        server.wait_for(SERVING)
        server.popen.send_signal(signal.SIGINT)
        assert server.popen.wait(timeout=15) == 0
        server.wait_for(re.compile(rb"Stopped\."))


def test_an_unbuilt_site_is_a_clear_error(tmp_path):
    with running(["serve", "--port", "0", "--no-stomp", "--docs", str(tmp_path)]) as server:
        server.wait_for(re.compile(rb"run `make docs` first"))
        assert server.popen.wait(timeout=15) == 2


def test_a_port_in_use_is_a_clear_error(site):
    with running(["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site)]) as first:
        port = first.wait_for(SERVING).group(2).decode()
        with running(["serve", "--port", port, "--no-stomp", "--docs", str(site)]) as second:
            second.wait_for(re.compile(rb"cannot listen on"))
            assert second.popen.wait(timeout=15) == 2


STOMP = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")


def stomp_connect(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0")
        reply = b""
        while b"\0" not in reply:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed; got {reply!r}"
            reply += chunk
        return reply


def test_serve_starts_the_stomp_broker_beside_the_site(site):
    with running(["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site)]) as server:
        server.wait_for(SERVING)
        port = int(server.wait_for(STOMP).group(2))
        assert stomp_connect(port).startswith(b"CONNECTED\n")


def test_a_taken_stomp_port_warns_and_the_site_is_still_served(site):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        with running(["serve", "--port", "0", "--stomp-port", busy, "--docs", str(site)]) as s:
            port = int(s.wait_for(SERVING).group(2))
            s.wait_for(re.compile(rb"warning: no STOMP broker: cannot listen"))
            assert get(port, "/docs/index.html").status == 200


def test_the_chat_and_the_part_7_steps_are_served(site):
    with running(["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site)]) as server:
        port = int(server.wait_for(SERVING).group(2))
        assert b"<" in get(port, "/chat/").body
        step = get(port, "/part07/step1/")
        assert step.status == 200 and b"<html" in step.body.lower()
        assert get(port, "/static/comet.js").status == 200
