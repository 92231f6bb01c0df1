"""Who may reach `serve`: the Host check against DNS rebinding, and CORS answers.

A page on a name its attacker controls can rebind that name to the reader's own machine;
its requests then carry ``Host: evil.example:PORT``. They must be refused on every path
(site pages, ``/comet/``, both WebSocket upgrades), while loopback names, IP addresses and
the names `serve` was given are answered.
"""

from __future__ import annotations

import socket

import pytest

from tests.transports.http.support import make_site, request, serve


def exchange(port: int, head: bytes) -> bytes:
    """Send a raw request head; everything the server answers until it closes or the
    response (with its Content-Length body) is whole."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            head_end = answer.find(b"\r\n\r\n")
            if head_end >= 0:
                length = [line.split(b":")[1] for line in answer[:head_end].split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(answer) >= head_end + 4 + int(length[0]):
                    break
                if answer.startswith(b"HTTP/1.1 101 "):  # upgraded: no body to wait for
                    break
        return answer


def upgrade(path: str, host: str, origin: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode()


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """`serve` told one extra name and a public URL behind a TLS proxy."""
    site = make_site(tmp_path_factory.mktemp("site"))
    with serve(site, "--host-name", "app.example", "--public-url",
               "https://chat.example.org") as (port, _, _):
        yield port


def test_a_rebinding_page_is_refused_on_every_path(server):
    port = server[0]
    evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    client_id = request(port, "POST", "/comet/")[2].decode()
    for method, path in [("POST", "/comet/"), ("GET", "/"), ("GET", "/docs/index.html"),
                         ("GET", f"/comet/{client_id}/poll?ack=0&hold=0"),
                         ("POST", f"/comet/{client_id}/send?offset=0"),
                         ("OPTIONS", "/comet/")]:
        status, headers, body = request(port, method, path, headers=evil)
        assert status == 421, (method, path, status)
        assert b"does not answer to the name 'evil.example'" in body
        assert "access-control-allow-origin" not in headers
    for path in ("/stomp", f"/comet/{client_id}/ws?ack=0"):
        answer = exchange(port, upgrade(path, f"evil.example:{port}",
                                        f"http://evil.example:{port}"))
        assert answer.startswith(b"HTTP/1.1 421 "), (path, answer[:200])


def test_each_request_of_a_connection_is_checked(server):
    with socket.create_connection(("127.0.0.1", server[0]), timeout=10) as sock:
        sock.sendall(b"GET /docs/index.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
                     b"GET /docs/index.html HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 421 " in answer


def test_loopback_names_and_addresses_are_answered(server):
    port = server[0]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost",
                 f"LOCALHOST:{port}", f"192.168.1.20:{port}"):
        status, headers, _ = request(port, "POST", "/comet/", headers={
            "Host": host, "Origin": f"http://{host.lower()}"})
        assert status == 201, host
        assert headers["access-control-allow-origin"] == f"http://{host.lower()}"
    assert request(port, "GET", "/docs/index.html", headers={"Host": "localhost"})[0] == 200


def test_an_upgrade_from_the_servers_own_origin_still_succeeds(server):
    port = server[0]
    answer = exchange(port, upgrade("/stomp", f"localhost:{port}", f"http://localhost:{port}"))
    assert answer.startswith(b"HTTP/1.1 101 ")


def test_the_names_serve_is_given_are_answered(named):
    status, headers, _ = request(named, "POST", "/comet/", headers={
        "Host": "app.example", "Origin": "http://app.example"})
    assert status == 201
    assert headers["access-control-allow-origin"] == "http://app.example"
    assert request(named, "POST", "/comet/", headers={"Host": "evil.example"})[0] == 421


def test_a_public_url_behind_a_tls_proxy_gives_its_https_origin(named):
    # The proxy speaks plain HTTP to the server, and passes the browser's Host on.
    status, headers, _ = request(named, "POST", "/comet/", headers={
        "Host": "chat.example.org", "Origin": "https://chat.example.org"})
    assert status == 201
    assert headers["access-control-allow-origin"] == "https://chat.example.org"


def test_http_1_1_without_host_is_400(server):
    port = server[0]
    answer = exchange(port, b"POST /comet/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Host header" in answer
    two = exchange(port, b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n")
    assert two.startswith(b"HTTP/1.1 400 ")
    malformed = exchange(port, b"GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n")
    assert malformed.startswith(b"HTTP/1.1 400 ")
    # HTTP/1.0 may omit it.
    assert exchange(port, b"POST /comet/ HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 201 ")


def test_cors_echoes_each_requests_own_spelling_of_its_origin(tmp_path):
    with serve(make_site(tmp_path), "--allow-origin", "https://app.example") as (port, _, _):
        shouting = {"Origin": "HTTPS://APP.EXAMPLE"}
        status, headers, _ = request(port, "POST", "/comet/", headers=shouting)
        assert status == 201
        assert headers["access-control-allow-origin"] == "HTTPS://APP.EXAMPLE"
        for _ in range(2):  # the browser's spelling, after the other: its own, each time
            status, headers, _ = request(port, "POST", "/comet/",
                                         headers={"Origin": "https://app.example"})
            assert status == 201
            assert headers["access-control-allow-origin"] == "https://app.example"


def test_serve_refuses_a_malformed_host_name_option(tmp_path):
    from comet_core.cli import main
    site = str(make_site(tmp_path))
    assert main(["serve", "--port", "0", "--docs", site, "--host-name", "a b"]) == 2
    assert main(["serve", "--port", "0", "--docs", site, "--public-url", "app.example"]) == 2
    assert main(["serve", "--port", "0", "--docs", site, "--trusted-proxy", "nope"]) == 2
    assert main(["serve", "--port", "0", "--docs", site, "--max-connections", "-1"]) == 2
    assert main(["serve", "--port", "0", "--docs", site, "--body-min-rate", "0"]) == 2


# --- the policy itself ---------------------------------------------------------------------

def test_split_host_reads_names_addresses_and_ports():
    from comet_core.transports.http.hosts import split_host
    assert split_host("Example.ORG:8000") == ("example.org", "8000")
    assert split_host("[::1]:8000") == ("::1", "8000")
    assert split_host("[::1]") == ("::1", None)
    assert split_host("localhost.") == ("localhost", None)
    for bad in ("", ":80", "a b", "[::1", "[nope]:1", "host:port", "host:123456", "a/b"):
        with pytest.raises(ValueError):
            split_host(bad)


def test_the_policy_answers_loopback_addresses_and_its_names_only():
    from comet_core.transports.http.hosts import HostPolicy, HostRefused
    policy = HostPolicy(["App.Example"])
    for ok in (b"localhost:1", b"127.0.0.1", b"[::1]:80", b"10.0.0.7:8000", b"app.example"):
        policy.check([ok], b"HTTP/1.1")
    with pytest.raises(HostRefused) as refused:
        policy.check([b"evil.example:8000"], b"HTTP/1.1")
    assert refused.value.status == 421
    with pytest.raises(HostRefused) as refused:
        policy.check(None, b"HTTP/1.1")
    assert refused.value.status == 400
    policy.check(None, b"HTTP/1.0")
    HostPolicy(["*"]).check([b"anything.example"], b"HTTP/1.1")


def test_public_url_gives_the_name_and_the_origin():
    from comet_core.transports.http.hosts import public_url
    assert public_url("https://Chat.Example.org/") == ("chat.example.org",
                                                       "https://chat.example.org")
    assert public_url("http://chat.example.org:8080/app") == (
        "chat.example.org", "http://chat.example.org:8080")
    assert public_url("https://chat.example.org:443") == ("chat.example.org",
                                                          "https://chat.example.org")
    with pytest.raises(ValueError):
        public_url("chat.example.org")
