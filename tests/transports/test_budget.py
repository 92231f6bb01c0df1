"""The memory budget: all STOMP sessions of a server together hold a bounded number of bytes.

A bound per connection is no bound on the server: connections that each park an almost
complete frame would add up without end. With a budget, the connection whose unfinished
frame would take the total past it is refused ("server busy"), publishers wait while
unsent output holds the budget, and everything resumes as the budget frees.
"""

from __future__ import annotations

import re
import select
import socket
from collections.abc import Iterator

import pytest

from comet_core.budget import MemoryBudget
from comet_core.hub import Hub
from comet_core.stomp.frames import FrameParser
from comet_core.stomp.session import SessionLimits
from tests.helpers import Process
from tests.stomp.session_support import Client, Clock, connected

KIB = 1 << 10


def test_the_budget_counts_and_releases_blocked_sessions_under_three_quarters() -> None:
    class Waiter:
        freed = 0

        def budget_freed(self) -> None:
            self.freed += 1

    budget, waiter = MemoryBudget(1000), Waiter()
    budget.charge(400, 800)
    assert budget.exhausted and budget.publishers_wait
    budget.block(waiter)
    budget.charge(0, -300)  # 900: under the budget, not yet under 750
    assert waiter.freed == 0 and budget.blocked == 1
    budget.charge(0, -150)
    assert waiter.freed == 1 and budget.blocked == 0


def test_publishers_do_not_wait_when_unfinished_input_holds_the_budget() -> None:
    """Waiting publishers would free nothing: only output drains by their waiting."""
    budget = MemoryBudget(1000)
    budget.charge(990, 100)
    assert budget.exhausted and not budget.publishers_wait

    class Waiter:
        freed = 0

        def budget_freed(self) -> None:
            self.freed += 1

    budget.charge(0, 200)  # output 300: now part of the excess
    assert budget.publishers_wait
    waiter = Waiter()
    budget.block(waiter)
    budget.charge(0, -60)  # output back at a quarter: they go on, input or not
    assert waiter.freed == 1


def parked(hub: Hub, clock: Clock, size: int) -> Client:
    """A client that sent CONNECT and then all of a SEND frame but its NUL."""
    client = connected(hub, clock)
    client.raw(b"SEND\ndestination:/queue/q\n\n" + b"x" * size)
    return client


def test_parked_frames_cannot_take_the_server_past_its_budget() -> None:
    hub, clock = Hub(), Clock()
    hub.budget = budget = MemoryBudget(10 * 100 * KIB)
    clients = []
    for _ in range(10):
        clients.append(parked(hub, clock, 95 * KIB))
        assert not clients[-1].session.closed
    late = parked(hub, clock, 95 * KIB)  # the eleventh does not fit
    error = late.error()
    assert error.get("message") == "server busy"
    assert str(budget.limit).encode() in error.body
    assert budget.used <= budget.limit
    # One parked connection goes away: its bytes go back, and a new one fits again.
    clients[0].session.connection_lost()
    assert not parked(hub, clock, 95 * KIB).session.closed
    assert budget.used <= budget.limit


def test_a_frame_that_completes_frees_its_share() -> None:
    hub, clock = Hub(), Clock()
    hub.budget = budget = MemoryBudget(1 << 20)
    client = parked(hub, clock, 500 * KIB)
    assert budget.used >= 500 * KIB
    client.raw(b"\0")
    assert budget.used == 0
    client.session.connection_lost()
    assert budget.used == 0


def test_two_servers_in_one_process_do_not_share_a_budget() -> None:
    clock = Clock()
    first, second = Hub(), Hub()
    first.budget, second.budget = MemoryBudget(300 * KIB), MemoryBudget(300 * KIB)
    parked(first, clock, 250 * KIB)
    assert not parked(second, clock, 250 * KIB).session.closed
    assert first.budget.used > 250 * KIB and second.budget.used > 250 * KIB


def test_publishers_wait_while_unsent_output_holds_the_budget_and_resume_as_it_drains() -> None:
    hub, clock = Hub(), Clock()
    hub.budget = budget = MemoryBudget(256 * KIB)
    limits = SessionLimits(outbound_soft=1 << 30, outbound_hard=1 << 30)  # the budget rules
    reader = connected(hub, clock, limits=limits)
    reader.subscribe("/topic/t")
    publisher = Client(hub, clock)
    publisher.connect(heart_beat="1000,1000")
    body = b"m" * (16 * KIB)
    sent = 0
    while not publisher.session.reading_paused:
        assert sent < 64, "the publisher was never paused"
        publisher.publish("/topic/t", body)
        reader.session.resume()  # the adapter's round: the reader's output is charged
        sent += 1
    assert budget.exhausted
    # Frames that arrive anyway are held, not run.
    publisher.publish("/topic/t", body, receipt="r")
    assert publisher.read() == []
    # The paused publisher is not "silent": no heart-beat timeout while it waits.
    clock.advance(60)
    publisher.session.tick()
    assert not publisher.session.closed
    # The subscriber reads: the budget frees, the publisher goes on, and the held frame runs.
    wakeups = publisher.wakeups
    assert len(reader.messages()) == sent
    assert budget.used <= budget.resume_level
    assert not publisher.session.reading_paused and publisher.wakeups > wakeups
    publisher.session.resume()
    assert publisher.expect("RECEIPT").get("receipt-id") == "r"
    assert len(reader.messages()) == 1


# --- a real broker, over TCP ------------------------------------------------------------

LISTENING = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")
TIMEOUT = 10.0


@pytest.fixture
def small_broker() -> Iterator[tuple[str, int]]:
    process = Process(["broker", "--port", "0", "--quiet", "--memory-budget", "4m"])
    try:
        m = process.wait_for(LISTENING)
        yield m.group(1).decode(), int(m.group(2))
    finally:
        process.stop()


def park(address: tuple[str, int], size: int) -> tuple[socket.socket, FrameParser, list]:
    sock = socket.create_connection(address, timeout=TIMEOUT)
    sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0")
    parser = FrameParser()
    frames: list = []
    while not frames:
        frames += parser.feed(sock.recv(65536))
    assert frames[0].command == "CONNECTED"
    sock.sendall(b"SEND\ndestination:/queue/parked\n\n" + b"p" * size)
    return sock, parser, frames


def answer(sock: socket.socket, parser: FrameParser, timeout: float) -> list:
    """Frames the broker sends within `timeout` seconds (until it closes)."""
    sock.settimeout(timeout)
    frames: list = []
    try:
        while data := sock.recv(65536):
            frames += parser.feed(data)
    except (TimeoutError, ConnectionResetError):
        pass
    return frames


def test_a_real_broker_refuses_the_frame_that_would_pass_its_budget(small_broker):
    size = 900 * KIB
    opened = [park(small_broker, size) for _ in range(5)]  # 4 x 900 KiB fit in 4 MiB
    try:
        # The broker answers only the connection it refused (whichever it read last).
        readable, _, _ = select.select([sock for sock, _, _ in opened], [], [], TIMEOUT)
        assert len(readable) == 1, "no connection (or more than one) was refused"
        refused = next(p for p in opened if p[0] is readable[0])
        frames = answer(refused[0], refused[1], TIMEOUT)
        assert [f.command for f in frames] == ["ERROR"]
        assert frames[0].get("message") == "server busy"
        # The others are still there, waiting for their NUL; one finishes and leaves.
        sock, parser, _ = next(p for p in opened if p is not refused)
        sock.sendall(b"\0DISCONNECT\nreceipt:bye\n\n\0")
        assert [f.get("receipt-id") for f in answer(sock, parser, TIMEOUT)] == ["bye"]
        # Its share went back: a new connection may park a frame again.
        again, parser, _ = park(small_broker, size)
        opened.append((again, parser, []))
        again.sendall(b"\0DISCONNECT\nreceipt:ok\n\n\0")
        assert [f.get("receipt-id") for f in answer(again, parser, TIMEOUT)] == ["ok"]
    finally:
        for sock, _, _ in opened:
            sock.close()
