"""`bench fanout`: both paths answer every held poll with the message, round after round,
over keep-alive connections; the command prints both and their ratio. No timing asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from comet_core.bench.fanout import Clients, measure
from tests.helpers import ROOT


@pytest.mark.parametrize("carried", [True, False])
def test_every_client_gets_every_release_on_both_paths(carried):
    figures = measure(25, 3, carried)  # `release` raises if a client missed a message
    assert len(figures) == 3 and all(f > 0 for f in figures)


def test_the_carried_path_skips_the_wakeups_and_the_pumped_one_takes_them():
    clients = Clients(5, carried=False)
    clients.hold()
    woken = []
    clients.comet._wake = woken.append  # what a STOMP session's wakeup reaches
    for session in clients.comet.store:
        session.app.on_wakeup = lambda b=session.app: clients.comet._wake(b)
    with pytest.raises(RuntimeError, match="did not get the message"):
        clients.release(b"pumped")  # the wakeups went nowhere: nobody was answered
    assert len(woken) == 5

    carried = Clients(5, carried=True)
    carried.hold()
    carried.comet._wake = woken.append
    carried.release(b"carried")
    assert len(woken) == 5  # none more


def test_the_command_prints_both_paths_and_their_ratio():
    proc = subprocess.run([sys.executable, "-m", "comet_core", "bench", "fanout", "--n", "20",
                           "--rounds", "2"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "pumped (baseline)" in proc.stdout and "carried (serve)" in proc.stdout
    assert "carried / pumped:" in proc.stdout
