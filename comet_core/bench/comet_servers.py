"""The servers `bench comet` compares: `serve`, Part 1's Twisted server, nginx with Nchan.

Each is started afresh as a subprocess for every run, on a free port of 127.0.0.1, and
stopped after it (`stop` is safe to call twice). Each knows how to publish one message to
every subscriber in the way that server offers, from a connection opened beforehand, so
that the time measured from the publish is the server's, not a TCP handshake's. A server
that cannot be had here raises `Unavailable` with the reason to print.

- `CometServe`: ``python -m comet_core serve``; publishes with a STOMP SEND on its
  broker's TCP port, to the topic every comet session subscribed to.
- `Baseline`: parts/part01/twisted_server.py; publishes with ``POST /publish``.
- `Nchan`: nginx, one worker, configured from nchan.conf.template; publishes with
  ``POST /pub/CHANNEL``. Its memory is the worker's (the master only supervises).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
TEMPLATE = Path(__file__).resolve().parent / "nchan.conf.template"
SITE = re.compile(r"Serving the site at http://([\d.]+):(\d+)/")
BROKER = re.compile(r"STOMP broker listening on ([\d.]+):(\d+)")
NCHAN_MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules",
                     "/usr/lib64/nginx/modules")
#: How a profiled `serve` is started: see comet_profile.py.
PROFILER = "comet_core.bench.comet_profile"


class Unavailable(Exception):
    """This server cannot be run here; the message says why."""


class Server:
    name = ""
    process: subprocess.Popen[bytes]
    port = 0

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"comet-bench-{self.name}-"))
        self.log = self.folder / "server.log"
        self.publisher: socket.socket | None = None

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.folder, env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))

    def wait_for(self, *patterns: re.Pattern[str]) -> list[re.Match[str]]:
        """The first match of each pattern in the server's output, waiting for them."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log_text()
            found = [p.search(text) for p in patterns]
            if all(found):
                return [m for m in found if m is not None]
            if self.process.poll() is not None:
                break
            time.sleep(0.05)  # another process's output: look again shortly
        self.stop()
        raise Unavailable(f"{self.name} did not start: {self.log_tail()!r}")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 600) -> str:
        return self.log_text()[-n:]

    def last_log_lines(self, n: int = 5) -> list[str]:
        """The server's last lines of log (for a run that went wrong), paths taken out."""
        lines = self.log_text().splitlines()[-n:]
        return [line.replace(str(self.folder), "DIR")[:300] for line in lines]

    # -- what the benchmark reads -------------------------------------------------------------

    @property
    def measured_pid(self) -> int:
        """The process whose memory and CPU are the server's."""
        return self.process.pid

    def rss(self) -> int:
        return psutil.Process(self.measured_pid).memory_info().rss

    def cpu_seconds(self) -> float:
        t = psutil.Process(self.measured_pid).cpu_times()
        return t.user + t.system

    def alive(self) -> bool:
        return self.process.poll() is None

    def held(self) -> int | None:
        """How many subscribers the server says it holds; None when it cannot say."""
        return None

    def client_spec(self) -> dict[str, Any]:
        """What the client processes need to know beyond host and port."""
        return {}

    def prepare_publish(self) -> None:
        """Open the publishing connection (and log in) before the clock starts."""
        self.publisher = socket.create_connection((HOST, self.port), timeout=30)
        self.publisher.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def publish(self, marker: str) -> float:
        """Send the one message; return the `time.monotonic()` just before the send."""
        raise NotImplementedError

    def publish_reply(self, timeout: float) -> str:
        """The server's answer to the publish (read after the clients are served)."""
        if self.publisher is None:
            return ""
        self.publisher.settimeout(timeout)
        try:
            return self.publisher.recv(4096).decode(errors="replace").split("\r\n")[0]
        except OSError as exc:
            return f"no answer: {exc}"

    def stop(self) -> None:
        if self.publisher is not None:
            with contextlib.suppress(OSError):
                self.publisher.close()
            self.publisher = None
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


class CometServe(Server):
    """Our `serve` process: the site, the /comet/ endpoints and the STOMP broker."""

    name = "comet"

    def __init__(self, topic: str, profile: Path | None = None) -> None:
        super().__init__()
        docs = self.folder / "site"
        (docs / "docs").mkdir(parents=True)
        (docs / "docs" / "index.html").write_text("<!doctype html><title>bench</title>\n")
        self.destination = f"/topic/{topic}"
        self.profile = profile
        argv = ["-m", "comet_core", "serve", "--host", HOST, "--port", "0",
                "--stomp-port", "0", "--docs", str(docs),
                # Every client comes from one address here: no bound per address.
                "--max-connections-per-address", "0", "--max-sessions-per-address", "0"]
        env = None
        if profile is not None:  # cProfile, switched on and off by signals (comet_profile)
            argv = ["-m", PROFILER, *argv[2:]]
            env = {"COMET_PROFILE_OUT": str(profile)}
        try:
            self.spawn([sys.executable, *argv], env)
            site, broker = self.wait_for(SITE, BROKER)
        except BaseException:
            self.stop()
            raise
        self.port = int(site.group(2))
        self.stomp_port = int(broker.group(2))

    def client_spec(self) -> dict[str, Any]:
        return {"path": "/comet/", "destination": self.destination}

    def prepare_publish(self) -> None:
        sock = socket.create_connection((HOST, self.stomp_port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\x00")
        got = b""
        while b"\x00" not in got:
            chunk = sock.recv(4096)
            if not chunk:
                raise Unavailable(f"the broker closed the publisher's connection: {got!r}")
            got += chunk
        if not got.lstrip(b"\r\n").startswith(b"CONNECTED"):
            raise Unavailable(f"the broker refused the publisher: {got[:200]!r}")
        self.publisher = sock

    def publish(self, marker: str) -> float:
        assert self.publisher is not None
        body = marker.encode()
        frame = (b"SEND\ndestination:%s\ncontent-type:text/plain\ncontent-length:%d\n"
                 b"receipt:bench-pub\n\n%s\x00" % (self.destination.encode(), len(body), body))
        t0 = time.monotonic()
        self.publisher.sendall(frame)
        return t0

    def publish_reply(self, timeout: float) -> str:
        reply = super().publish_reply(timeout)
        return reply.split("\n")[0]  # RECEIPT (or ERROR)

    def signal_profiler(self, on: bool) -> None:
        if self.profile is not None and self.alive():
            self.process.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)


class Baseline(Server):
    """Part 1's minimal twisted.web long-poll server: GET /poll, POST /publish."""

    name = "baseline"
    script = Path(__file__).resolve().parents[2] / "parts" / "part01" / "twisted_server.py"

    def __init__(self) -> None:
        if not self.script.is_file():
            raise Unavailable("Part 1's server is not here (parts/part01/twisted_server.py)")
        super().__init__()
        try:
            self.spawn([sys.executable, str(self.script), "--host", HOST, "--port", "0"])
            (m,) = self.wait_for(re.compile(r"http://[\d.]+:(\d+)/"))
        except BaseException:
            self.stop()
            raise
        self.port = int(m.group(1))

    def held(self) -> int | None:
        status, body = http_get(self.port, "/stats")
        m = re.search(r'"waiting": (\d+)', body)
        return int(m.group(1)) if status == 200 and m else None

    def publish(self, marker: str) -> float:
        # Part 1's client expects exactly Part 1's message (its `MESSAGE`); `marker` unused.
        from comet_core.bench.comet_clients import part01_loadtest

        body = part01_loadtest().MESSAGE
        return _post(self, "/publish", body)


class Nchan(Server):
    """nginx with the Nchan module, one worker, our own config in a temporary folder."""

    name = "nchan"

    def __init__(self, channel: str) -> None:
        nginx = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None)
        if nginx is None:
            raise Unavailable("nginx is not installed (Debian: apt-get install nginx-light "
                              "libnginx-mod-nchan)")
        load = nchan_load_line(nginx)
        self.channel = channel
        self.port = free_port()
        self._worker: int | None = None
        super().__init__()
        try:
            self._start(nginx, load)
        except BaseException:
            self.stop()
            raise

    def _start(self, nginx: str, load: str) -> None:
        conf = string.Template(TEMPLATE.read_text()).substitute(
            load_module=load, dir=str(self.folder), host=HOST, port=self.port)
        (self.folder / "nginx.conf").write_text(conf)
        self.spawn([nginx, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")])
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                error = (self.folder / "error.log")
                why = (error.read_text(errors="replace")[-400:] if error.exists() else "") \
                    or self.log_tail()
                self.stop()
                raise Unavailable(f"nginx did not start: {why!r}")
            time.sleep(0.05)  # nginx is another process: look again shortly

    def log_text(self) -> str:
        text = super().log_text()
        try:
            return text + (self.folder / "error.log").read_text(errors="replace")
        except OSError:
            return text

    @property
    def measured_pid(self) -> int:
        if self._worker is None:
            children = psutil.Process(self.process.pid).children()
            if not children:
                raise Unavailable("nginx has no worker process")
            self._worker = children[0].pid
        return self._worker

    def client_spec(self) -> dict[str, Any]:
        return {"channel": self.channel}

    def held(self) -> int | None:
        status, body = http_get(self.port, "/status")
        m = re.search(r"subscribers: (\d+)", body)
        return int(m.group(1)) if status == 200 and m else None

    def publish(self, marker: str) -> float:
        return _post(self, f"/pub/{self.channel}", marker.encode())


def nchan_load_line(nginx: str) -> str:
    """The ``load_module`` line for Nchan ('' when built in); Unavailable if it is absent."""
    for folder in NCHAN_MODULE_DIRS:
        module = Path(folder) / "ngx_nchan_module.so"
        if module.is_file():
            return f"load_module {module};"
    try:
        built = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"cannot run nginx: {exc}") from exc
    if "nchan" in built.stderr:
        return ""
    raise Unavailable("nginx has no Nchan module (Debian: apt-get install libnginx-mod-nchan)")


def _post(server: Server, path: str, body: bytes) -> float:
    assert server.publisher is not None
    request = (b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (path.encode(), HOST.encode(), len(body), body))
    t0 = time.monotonic()
    server.publisher.sendall(request)
    return t0


def http_get(port: int, path: str, timeout: float = 10.0) -> tuple[int, str]:
    """A one-off GET: (status, body); (0, reason) when it failed."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                         % (path.encode(), HOST.encode()))
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
                if len(data) > 1 << 20:
                    break
    except OSError as exc:
        return 0, str(exc)
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ", 2)[1]), body.decode(errors="replace")
    except (IndexError, ValueError):
        return 0, "bad answer"


def answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]
