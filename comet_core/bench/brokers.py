"""The brokers a STOMP benchmark runs against: ours, RabbitMQ's STOMP plugin, CoilMQ.

Ours and CoilMQ are started as subprocesses on free ports (fresh for each scenario, so one
that a load broke cannot spoil the next); RabbitMQ is a service that is either answering
or not. A broker that cannot be had raises `Unavailable` with the reason to print.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import psutil
except ImportError:  # the benchmark works without it; it then reports no broker CPU
    psutil = None

START_TIMEOUT = 30.0
LISTENING = re.compile(rb"STOMP broker listening on (\d+\.\d+\.\d+\.\d+):(\d+)")


class Unavailable(Exception):
    """This broker cannot be benchmarked here; the message says why."""


@dataclass
class Login:
    login: str = "guest"
    passcode: str = "guest"
    vhost: str = "/"
    versions: str = "1.0,1.1,1.2"  # what the load's CONNECT offers


class Running:
    """A broker ready for load: its address, and (when we can see it) its process."""

    def __init__(self, name: str, host: str, port: int, login: Login,
                 process: subprocess.Popen | None = None, pid: int | None = None,
                 log: Path | None = None) -> None:
        self.name, self.host, self.port, self.login = name, host, port, login
        self.process, self.log = process, log
        self.pid = pid if pid is not None else (process.pid if process else None)

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return _answers(self.host, self.port)

    def exit_status(self) -> str:
        code = self.process.poll() if self.process else None
        return "running" if code is None else f"exited with status {code}"

    def cpu_seconds(self) -> float | None:
        """CPU time the broker's process has used so far (None when it is out of sight)."""
        if psutil is None or self.pid is None:
            return None
        try:
            t = psutil.Process(self.pid).cpu_times()
        except (psutil.Error, OSError):
            return None
        return t.user + t.system

    def log_tail(self, n: int = 2000) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_bytes()[-n:].decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self._forget_log()
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._forget_log()

    def _forget_log(self) -> None:
        if self.log is not None:
            with contextlib.suppress(OSError):
                self.log.unlink()


def _answers(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _spawn(argv: list[str]) -> tuple[subprocess.Popen, Path]:
    fd, name = tempfile.mkstemp(prefix="comet-bench-broker-", suffix=".log")
    with os.fdopen(fd, "wb") as out:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env)
    return process, Path(name)


def start_comet(host: str = "127.0.0.1") -> Running:
    """Our broker, `python -m comet_core broker`, on a port it picks and prints."""
    process, log = _spawn([sys.executable, "-m", "comet_core", "broker",
                           "--host", host, "--port", "0"])
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if m := LISTENING.search(log.read_bytes()):
            return Running("comet", m.group(1).decode(), int(m.group(2)), Login(), process,
                           log=log)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    tail = log.read_bytes()[-1000:].decode("utf-8", "replace")
    Running("comet", host, 0, Login(), process, log=log).stop()
    raise Unavailable(f"our broker did not start: {tail.strip() or 'no output'}")


def start_coilmq(host: str = "127.0.0.1") -> Running:
    """CoilMQ, the threaded Python broker from PyPI, on a free port."""
    try:
        import coilmq  # noqa: F401
    except ImportError:
        raise Unavailable("CoilMQ is not installed (pip install coilmq)") from None
    port = _free_port(host)
    process, log = _spawn([sys.executable, "-c", "from coilmq.start import main; main()",
                           "--host", host, "--port", str(port)])
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _answers(host, port, timeout=0.5):
            # CoilMQ's 1.2 wants `host` to be this machine's FQDN and an ACK that names
            # the subscription as `id`; at 1.1 it speaks STOMP as written.
            return Running("coilmq", host, port, Login(versions="1.1"), process, log=log)
        time.sleep(0.05)
    running = Running("coilmq", host, port, Login(), process, log=log)
    tail = running.log_tail(1000)
    running.stop()
    raise Unavailable(f"CoilMQ did not start: {tail.strip() or 'no output'}")


def find_rabbitmq(address: str, login: Login) -> Running:
    """RabbitMQ's STOMP plugin, already running at `address` (HOST:PORT)."""
    host, _, port = address.rpartition(":")
    if not _answers(host, int(port)):
        raise Unavailable(f"nothing answers on {address} (is rabbitmq_stomp enabled?)")
    return Running("rabbitmq", host, int(port), login, pid=_rabbitmq_pid())


def _rabbitmq_pid() -> int | None:
    """RabbitMQ's Erlang VM, to read its CPU time (None if we cannot see it)."""
    if psutil is None:
        return None
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if (proc.info["name"] or "").startswith("beam") and "rabbit" in cmdline:
                return proc.pid
    return None


def start(name: str, rabbitmq: str, rabbitmq_login: Login) -> Running:
    if name == "comet":
        return start_comet()
    if name == "coilmq":
        return start_coilmq()
    if name == "rabbitmq":
        return find_rabbitmq(rabbitmq, rabbitmq_login)
    raise Unavailable(f"unknown broker {name!r}")
