"""Heart-beats: negotiated at CONNECT, kept up by both sides, and a silent client dropped."""

from __future__ import annotations

import time

import pytest

from tests.interop.support import TIMEOUT, comet_only

BEAT_MS = 1000  # RabbitMQ counts heart-beats in whole seconds; less would round to nothing


def _pair(header: str) -> tuple[int, int]:
    sx, sy = header.replace(" ", "").split(",")
    return int(sx), int(sy)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_heartbeats_are_negotiated(connect, version):
    client = connect(version, heartbeats=(BEAT_MS, BEAT_MS))
    sx, sy = _pair(client.rec.connected_frame.headers["heart-beat"])
    assert sx > 0, "the broker offers no heart-beats although the client asked for them"
    client.rec.wait_heartbeats(2, timeout=3 * max(sx, BEAT_MS) / 1000 + TIMEOUT)


def test_heartbeats_keep_a_quiet_connection(connect, dest):
    client = connect("1.2", heartbeats=(BEAT_MS, BEAT_MS))
    _, sy = _pair(client.rec.connected_frame.headers["heart-beat"])
    # Nothing but beats for three of the client's beat intervals: longer than a broker
    # waits for a silent client, so the connection lasts only if stomp.py's beats count.
    ours = max(sy, BEAT_MS) / 1000 if sy else BEAT_MS / 1000
    assert not client.rec.disconnected.wait(3 * ours), "the broker dropped a beating client"
    assert client.rec.heartbeats >= 2
    topic = dest.topic()
    client.subscribe(topic)
    client.send(topic, "still here")
    assert client.rec.next_message().body == "still here"


@comet_only
def test_a_client_whose_beats_stop_is_dropped(raw):
    client = raw()
    connected = client.connect("1.2", heartbeat=f"{BEAT_MS},0")  # promise beats, never send
    _, sy = _pair(connected.headers["heart-beat"])
    assert sy > 0, "the broker does not watch for the client's heart-beats"
    interval = max(sy, BEAT_MS) / 1000
    assert client.wait_closed(timeout=3 * interval + TIMEOUT), "silent client not dropped"
    error = client.read_frame()  # what arrived before the close: ours says why
    assert error.command == "ERROR" and "heart-beat" in error.headers["message"], error


@comet_only
def test_a_client_that_keeps_beating_stays(raw):
    client = raw()
    connected = client.connect("1.2", heartbeat=f"{BEAT_MS},{BEAT_MS}")
    sx, sy = _pair(connected.headers["heart-beat"])
    assert sx > 0 and sy > 0
    ours = max(BEAT_MS, sy) / 1000  # how often we promised to beat
    theirs = max(BEAT_MS, sx) / 1000
    # Beat on time until the broker has beaten three times and we have outlived three of
    # our intervals: more than any allowance for silence, so we stay only if beats count.
    client.sock.settimeout(ours / 4)
    start = time.monotonic()
    received = 0
    while received < 3 or time.monotonic() < start + 3 * ours:
        assert time.monotonic() < start + 4 * theirs + TIMEOUT, "the broker's beats stopped"
        try:
            data = client.sock.recv(65536)
            assert data, "the broker closed a connection that kept beating"
            received += data.count(b"\n")
        except TimeoutError:
            pass
        client.send(b"\n")  # at least once per ours / 4: on time, never early enough to matter
    client.send(b"SUBSCRIBE\nid:1\ndestination:/topic/beats\nreceipt:alive\n\n\x00")
    assert client.read_frame().headers.get("receipt-id") == "alive"
