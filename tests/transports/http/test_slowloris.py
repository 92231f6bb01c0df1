"""Slow senders: a request head must arrive whole within its deadline, a body must keep a
minimum rate, and a head past the bounds gets 431, not a silent close.

The deadlines are turned down to a fraction of a second (the server under test, and a
fake clock for the arithmetic); the tests wait on what the server does, never on time.
"""

from __future__ import annotations

import socket

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from comet_core.transports.http.request import CometSite
from tests.transports.http.support import CometClient, make_site, request, serve
from tests.transports.http.test_hosts import exchange

#: The deadlines of the server under test (seconds): head, body; body rate (bytes/s).
DEADLINE = 0.4
RATE = 1000


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("site"))
    with serve(site, "--header-timeout", str(DEADLINE), "--body-timeout", str(DEADLINE),
               "--body-min-rate", str(RATE)) as (port, _, _):
        yield port


def trickle(port: int, first: bytes, byte: bytes = b"x", limit: int = 2000) -> bytes:
    """Send `first`, then one byte at a time (each waiting up to 50 ms for an answer) until
    the server answers or closes; what it answered. Fails after `limit` bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(first)
        sock.settimeout(0.05)
        for _ in range(limit):
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                try:
                    sock.sendall(byte)
                except OSError:  # closed under us: read what came
                    break
                continue
            sock.settimeout(10)
            while chunk := sock.recv(65536):
                answer += chunk
            return answer
        sock.settimeout(10)
        try:
            return sock.recv(65536)
        except OSError:
            return b""
    raise AssertionError(f"still open after {limit} bytes")


def test_a_trickled_head_is_answered_408_and_closed(strict):
    answer = trickle(strict, b"GET /docs/index.html HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:200]
    assert b"head did not arrive within" in answer


def test_a_trickled_body_is_answered_408_and_closed(strict):
    client = CometClient(strict)
    head = (f"POST /comet/{client.id}/send?offset=0 HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Length: 100000\r\n\r\n").encode()
    answer = trickle(strict, head)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:200]
    assert b"body came slower than" in answer
    client.close()


def test_a_held_long_poll_is_not_cut_by_the_deadlines(strict):
    client = CometClient(strict)
    status, _, body = request(strict, "GET", f"/comet/{client.id}/poll?ack=0&hold=2")
    assert status == 200 and body == b""  # held its full 2 s, five head deadlines
    client.close()


def test_a_huge_header_is_431_with_a_message(server):
    port = server[0]
    huge = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"x" * (1 << 20) + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(huge)
        except OSError:
            pass  # the server answered and closed before taking it all
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"16384 bytes" in answer


def test_many_headers_are_431(server):
    many = b"".join(b"X-%d: y\r\n" % i for i in range(600))
    answer = exchange(server[0], b"GET / HTTP/1.1\r\nHost: localhost\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_a_malformed_head_is_400_with_a_message(server):
    answer = exchange(server[0], b"GET / HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"malformed" in answer


# --- the deadlines on a fake clock ---------------------------------------------------------

class Hold(Resource):
    """Answers nothing: its requests stay under way."""

    isLeaf = True

    def render(self, request):
        return NOT_DONE_YET


def site_and_clock(**options) -> tuple[CometSite, MemoryReactorClock]:
    reactor = MemoryReactorClock()
    options = {"timeout": 100, "header_timeout": 10, "body_timeout": 10,
               "body_min_rate": 100, **options}
    return CometSite(Hold(), reactor=reactor, **options), reactor


def connect(site: CometSite, host: str = "127.0.0.1"):
    channel = site.buildProtocol(IPv4Address("TCP", host, 40000))
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


class Answer(Resource):
    isLeaf = True

    def render(self, request):
        return b"ok"


def test_a_connection_that_sends_nothing_is_late_too():
    site, clock = site_and_clock()
    channel, transport = connect(site)
    clock.advance(9)
    assert site.close_idle() == 0
    clock.advance(2)
    assert site.close_idle() == 1
    assert transport.value().startswith(b"HTTP/1.1 408 ") and transport.disconnecting


def test_the_head_deadline_runs_from_the_first_byte_of_each_later_request():
    site, clock = site_and_clock()
    site.resource = Answer()
    channel, transport = connect(site)
    channel.dataReceived(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 200 ")
    transport.clear()
    clock.advance(50)  # idle between requests, not late: the idle timeout applies
    assert site.close_idle() == 0
    channel.dataReceived(b"GET / HTTP/1.1\r\n")
    clock.advance(9)
    channel.dataReceived(b"Host: localhost\r\n")
    assert site.close_idle() == 0
    clock.advance(2)  # 11 s since the first byte: late, however lively
    channel.dataReceived(b"X-A: b\r\n")
    assert site.close_idle() == 1
    assert transport.value().startswith(b"HTTP/1.1 408 ") and transport.disconnecting


def test_an_honest_head_and_a_held_request_are_left_alone():
    site, clock = site_and_clock()
    channel, transport = connect(site)
    channel.dataReceived(b"GET / HTTP/1.1\r\n")
    clock.advance(9)
    channel.dataReceived(b"Host: localhost\r\n\r\n")  # whole in time: held from now on
    clock.advance(1000)
    assert site.close_idle() == 0 and not transport.disconnecting


def test_a_body_keeps_its_deadline_while_it_keeps_the_rate():
    site, clock = site_and_clock()
    channel, transport = connect(site)
    channel.dataReceived(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n")
    for _ in range(20):  # 200 bytes a second, twice the rate: 20 s, past the 10 s base
        clock.advance(1)
        channel.dataReceived(b"x" * 200)
        assert site.close_idle() == 0
    assert not transport.disconnecting
    clock.advance(40)  # 10 s + 4000 bytes / 100 = 50 s from the start: now late
    assert site.close_idle() == 1
    assert transport.value().startswith(b"HTTP/1.1 408 ") and transport.disconnecting


def test_a_pipelined_head_waits_its_turn_before_its_deadline_runs():
    site, clock = site_and_clock()
    channel, transport = connect(site)
    channel.dataReceived(b"GET /held HTTP/1.1\r\nHost: localhost\r\n\r\nGET /next HTT")
    clock.advance(1000)  # the first request is held; the second's bytes wait
    assert site.close_idle() == 0 and not transport.disconnecting


def test_a_trickler_is_answered_408_at_the_default_deadline():
    reactor = MemoryReactorClock()
    site = CometSite(Hold(), reactor=reactor)  # the defaults `serve` starts with
    channel, transport = connect(site)
    channel.dataReceived(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    for _ in range(200):  # a byte a second, for as long as the server lets it
        reactor.advance(1)
        site.close_idle()
        if transport.disconnecting:
            break
        channel.dataReceived(b"x")
    assert transport.value().startswith(b"HTTP/1.1 408 ")
