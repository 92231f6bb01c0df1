"""Bounds per client address, and in all: one client cannot hold every connection or every
comet session, and behind a trusted proxy the client is whom the proxy says."""

from __future__ import annotations

import http.client
import socket

import pytest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from comet_core.comet import CometLimits, SessionStore
from comet_core.hub import Hub
from comet_core.transports.http.request import CometSite
from comet_core.transports.websocket import StompWebSocketResource
from tests.transports.http.support import make_site, request, serve


def ask(sock: socket.socket, head: bytes) -> bytes:
    sock.sendall(head)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_the_connection_past_the_bound_per_address_is_429(tmp_path):
    with serve(make_site(tmp_path), "--max-connections-per-address", "3") as (port, _, _):
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        for sock in held:  # each one served, and kept open
            sock.sendall(b"GET /docs/index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as fourth:
            answer = ask(fourth, b"GET /docs/index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), answer[:200]
        assert b"Too many connections from your address" in answer
        held.pop().close()
        # Once the server sees that one end, a new connection is served again.
        for _ in range(200):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                answer = ask(sock, b"GET /docs/index.html HTTP/1.1\r\nHost: localhost\r\n"
                                   b"Connection: close\r\n\r\n")
            if answer.startswith(b"HTTP/1.1 200 "):
                break
        else:
            raise AssertionError("the ended connection was never released")
        for sock in held:
            sock.close()


def test_the_connection_past_the_global_bound_is_503(tmp_path):
    with serve(make_site(tmp_path), "--max-connections", "2") as (port, _, _):
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        for sock in held:
            sock.sendall(b"GET /docs/index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as third:
            answer = ask(third, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
        assert b"2 connections, its maximum" in answer
        for sock in held:
            sock.close()


def test_one_address_cannot_hold_every_session(tmp_path):
    with serve(make_site(tmp_path), "--max-sessions-per-address", "2") as (port, _, _):
        ids = [request(port, "POST", "/comet/")[2].decode() for _ in range(2)]
        status, _, body = request(port, "POST", "/comet/")
        assert status == 429
        assert b"Too many sessions from your address" in body
        # A forwarding header from an untrusted peer changes nothing.
        assert request(port, "POST", "/comet/", headers={"X-Forwarded-For": "10.0.0.9"})[0] \
            == 429
        assert request(port, "DELETE", f"/comet/{ids[0]}")[0] == 204
        assert request(port, "POST", "/comet/")[0] == 201  # room again


def test_behind_a_trusted_proxy_the_client_is_whom_it_forwards_for(tmp_path):
    with serve(make_site(tmp_path), "--max-sessions-per-address", "2",
               "--trusted-proxy", "127.0.0.1") as (port, _, _):
        ann = {"X-Forwarded-For": "203.0.113.7, 10.1.1.1"}  # 10.1.1.1: not a proxy of ours
        bob = {"X-Real-IP": "198.51.100.2"}
        for _ in range(2):
            assert request(port, "POST", "/comet/", headers=ann)[0] == 201
        assert request(port, "POST", "/comet/", headers=ann)[0] == 429
        assert request(port, "POST", "/comet/", headers=bob)[0] == 201
        assert request(port, "POST", "/comet/")[0] == 201  # the proxy's own


# --- the accounting itself -------------------------------------------------------------------

def test_ipv6_addresses_count_by_their_64_prefix_and_mapped_ipv4_as_ipv4():
    from comet_core.transports.http.addresses import client_key
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.1") == client_key("192.0.2.1") == "192.0.2.1"


def test_trusted_proxies_believe_the_rightmost_untrusted_hop_only():
    from comet_core.transports.http.addresses import TrustedProxies
    proxies = TrustedProxies(["10.0.0.0/8", "::1"])
    assert proxies.client("10.0.0.1", [b"1.2.3.4, 5.6.7.8, 10.0.0.2"], None) == "5.6.7.8"
    assert proxies.client("::1", None, [b"9.9.9.9"]) == "9.9.9.9"
    assert proxies.client("192.0.2.1", [b"1.2.3.4"], None) == "192.0.2.1"  # not a proxy
    assert proxies.client("10.0.0.1", [b"garbage"], None) == "10.0.0.1"


def test_counts_bound_each_key():
    from comet_core.transports.http.addresses import Counts
    counts = Counts(2)
    counts.add("a")
    counts.add("a")
    assert counts.full("a") and not counts.full("b")
    counts.remove("a")
    assert not counts.full("a")
    assert not Counts(0).full("a")


def test_the_store_bounds_sessions_per_client_and_frees_them_as_they_end():
    from comet_core.comet.store import TooManyFromAddress
    store = SessionStore(CometLimits(max_sessions=10, max_sessions_per_address=2))
    first = store.open(0.0, "a")
    store.open(0.0, "a")
    with pytest.raises(TooManyFromAddress) as refused:
        store.open(0.0, "a")
    assert refused.value.status_hint == 429
    store.open(0.0, "b")
    store.open(0.0)  # no client known: only the global bound
    first.terminate("done")
    store.open(0.0, "a")
    assert store.held_by("a") == 2


def test_an_upgraded_websocket_releases_its_count_when_it_ends():
    reactor = MemoryReactorClock()
    site = CometSite(StompWebSocketResource(Hub(), reactor=reactor), reactor=reactor,
                     max_connections_per_address=1)
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.dataReceived(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 101 ")
    assert site.per_address.full("127.0.0.1") and site.open_connections == 1
    channel.connectionLost(Failure(ConnectionDone()))  # what the transport calls
    assert site.open_connections == 0 and not site.per_address.full("127.0.0.1")
    again = site.buildProtocol(IPv6Address("TCP", "::ffff:127.0.0.1", 40001))
    assert type(again).__name__ == "CometChannel"


def test_one_address_is_bound_at_the_default_and_others_are_not():
    reactor = MemoryReactorClock()
    site = CometSite(StompWebSocketResource(Hub(), reactor=reactor), reactor=reactor)
    made = [site.buildProtocol(IPv4Address("TCP", "192.0.2.1", 1000 + i)) for i in range(600)]
    refused = [p for p in made if type(p).__name__ != "CometChannel"]
    assert len(refused) == 600 - 512
    transport = StringTransport()
    refused[0].makeConnection(transport)
    assert transport.value().startswith(b"HTTP/1.1 429 ")
    other = site.buildProtocol(IPv4Address("TCP", "198.51.100.1", 1))
    assert type(other).__name__ == "CometChannel"


def test_serve_bounds_sessions_per_address_by_default(server):
    port = server[0]
    opened, status, body = [], 201, b""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        while status == 201 and len(opened) < 400:
            conn.request("POST", "/comet/")
            response = conn.getresponse()
            status, body = response.status, response.read()
            if status == 201:
                opened.append(body.decode())
        assert (status, len(opened)) == (429, 256)
        assert b"Too many sessions from your address" in body
    finally:
        for session_id in opened:
            conn.request("DELETE", f"/comet/{session_id}")
            conn.getresponse().read()
        conn.close()
