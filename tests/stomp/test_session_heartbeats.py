"""Heart-beats: the negotiation rule, the server's beats, and a silent client dropped."""

from __future__ import annotations

import pytest

from comet_core.hub import Hub
from comet_core.stomp.negotiation import (
    heart_beat_intervals,
    negotiate_version,
    parse_heart_beat,
)
from comet_core.stomp.session import SessionLimits
from tests.stomp.session_support import Client, Clock


def test_the_negotiation_rules():
    assert negotiate_version(None) == "1.0"
    assert negotiate_version(" 1.1 , 1.0") == "1.1"
    assert negotiate_version("1.3") is None
    assert parse_heart_beat(None) == (0, 0)
    assert parse_heart_beat("10, 20") == (10, 20)
    for bad in ("10", "a,b", "-1,5", "1,2,3", ""):
        with pytest.raises(ValueError):
            parse_heart_beat(bad)
    # (server-to-client, client-to-server): off unless both sides want it, else the max.
    assert heart_beat_intervals((500, 3000), (1000, 1000)) == (3000, 1000)
    assert heart_beat_intervals((0, 3000), (1000, 1000)) == (3000, 0)
    assert heart_beat_intervals((500, 0), (1000, 1000)) == (0, 1000)
    assert heart_beat_intervals((500, 500), (0, 0)) == (0, 0)


def beating(hub: Hub, clock: Clock, client_beats: str, **limits: object) -> Client:
    client = Client(hub, clock, limits=SessionLimits(**limits))  # type: ignore[arg-type]
    client.connect("1.2", heart_beat=client_beats)
    return client


def test_the_server_beats_when_it_has_sent_nothing_for_its_interval(hub, clock):
    client = beating(hub, clock, "0,3000", heart_beat=(1000, 1000))
    session = client.session
    assert client.parser.version == "1.2"
    assert session.next_deadline() == clock.now + 3.0
    clock.advance(2.9)
    session.tick()
    assert session.data_to_send() == b""
    clock.advance(0.1)
    session.tick()
    assert session.data_to_send() == b"\n"
    assert session.next_deadline() == clock.now + 3.0


def test_other_output_counts_as_a_beat(hub, clock):
    client = beating(hub, clock, "0,3000")
    session = client.session
    clock.advance(2.0)
    client.send("SUBSCRIBE", {"id": "1", "destination": "/topic/a", "receipt": "r"})
    client.expect("RECEIPT")
    clock.advance(2.0)
    session.tick()
    assert session.data_to_send() == b""  # only 2 s since the RECEIPT
    clock.advance(1.0)
    session.tick()
    assert session.data_to_send() == b"\n"


def test_a_client_that_keeps_beating_stays(hub, clock):
    client = beating(hub, clock, "1000,0", heart_beat=(1000, 1000), heart_beat_grace=2.0)
    session = client.session
    for _ in range(20):
        clock.advance(1.0)
        client.raw(b"\n")
        session.tick()
    assert not session.closed


def test_a_client_whose_beats_stop_is_dropped_with_an_error(hub, clock):
    client = beating(hub, clock, "1500,0", heart_beat=(1000, 1000), heart_beat_grace=2.0)
    session = client.session
    assert session.next_deadline() == clock.now + 3.0  # 2 x max(1500, 1000) ms
    clock.advance(2.9)
    session.tick()
    assert not session.closed
    clock.advance(0.1)
    session.tick()
    error = client.error()
    assert error.get("message") == "heart-beat timeout"
    assert session.close_reason == "ERROR heart-beat timeout"


def test_no_beats_either_way_when_the_client_asks_for_none(hub, clock):
    client = beating(hub, clock, "0,0")
    assert client.session.next_deadline() is None


def test_the_server_can_turn_heart_beats_off(hub, clock):
    client = Client(hub, clock, limits=SessionLimits(heart_beat=(0, 0)))
    frame = client.connect("1.2", heart_beat="1000,1000")
    assert frame.get("heart-beat") == "0,0"
    assert client.session.next_deadline() is None


def test_stomp_1_0_has_no_heart_beats(hub, clock):
    client = Client(hub, clock)
    client.connect("1.0", heart_beat="1000,1000")
    assert client.session.next_deadline() is None


def test_a_bad_heart_beat_header_is_an_error(hub, clock):
    client = Client(hub, clock)
    client.raw(b"CONNECT\naccept-version:1.2\nheart-beat:fast\n\n\0")
    assert client.error().get("message") == "bad heart-beat header"
