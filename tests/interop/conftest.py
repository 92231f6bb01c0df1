"""Fixtures for the interoperability suite: clients nobody here wrote, against real brokers.

Every test that takes the `broker` fixture runs twice: against our broker (one process per
session, `python -m comet_core broker --port 0`) and against RabbitMQ's STOMP plugin on
127.0.0.1:61613. What passes on both is STOMP, not a habit of ours. Tests marked with
`support.comet_only` check choices the specification leaves to the server, on ours only.

RabbitMQ absent means a skip that says so, unless COMET_REQUIRE_RABBITMQ=1 (as in CI): then
it is a failure.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import Process
from tests.interop.support import Broker, Client, RawClient, stomppy_client

RABBITMQ = ("127.0.0.1", 61613)
LISTENING = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")


@pytest.fixture(scope="session")
def comet_broker() -> Iterator[Broker]:
    """Our broker, one process for the whole session, on a free port."""
    process = Process(["broker", "--host", "127.0.0.1", "--port", "0"])
    try:
        m = process.wait_for(LISTENING, timeout=30)
        yield Broker("comet", m.group(1).decode(), int(m.group(2)))
        assert process.popen.poll() is None, (
            f"the comet broker died during the tests: {b''.join(process.output)[-4000:]!r}")
    finally:
        process.stop()


def _rabbitmq_answers() -> bool:
    try:
        with socket.create_connection(RABBITMQ, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def rabbitmq_broker() -> Broker:
    if not _rabbitmq_answers():
        reason = (f"RabbitMQ's STOMP plugin does not answer on {RABBITMQ[0]}:{RABBITMQ[1]} "
                  "(enable it: rabbitmq-plugins enable rabbitmq_stomp)")
        if os.environ.get("COMET_REQUIRE_RABBITMQ") == "1":
            pytest.fail(f"{reason}, and COMET_REQUIRE_RABBITMQ=1")
        pytest.skip(reason)
    return Broker("rabbitmq", *RABBITMQ, closes_after_error=False)


@pytest.fixture(params=["comet", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Broker:
    """A STOMP broker: a test that takes this runs once against each."""
    return request.getfixturevalue(f"{request.param}_broker")


class Destinations:
    """Fresh names, so that no state left on RabbitMQ leaks from one test into another."""

    def topic(self) -> str:
        return f"/topic/interop-{uuid.uuid4().hex}"

    def queue(self) -> str:
        return f"/queue/interop-{uuid.uuid4().hex}"


@pytest.fixture
def dest() -> Destinations:
    return Destinations()


@pytest.fixture
def connect(broker: Broker) -> Iterator[Callable[..., Client]]:
    """`connect(version, heartbeats=(0, 0))`: a stomp.py client, closed after the test."""
    clients: list[Client] = []

    def make(version: str, heartbeats: tuple[int, int] = (0, 0), **options: object) -> Client:
        client = stomppy_client(broker, version, heartbeats, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def raw(broker: Broker) -> Iterator[Callable[[], RawClient]]:
    """`raw()`: a plain socket to the broker, closed after the test."""
    opened: list[RawClient] = []

    def make() -> RawClient:
        client = RawClient(broker)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()
