"""Bursts of simultaneous clients against homelab-exporter and node_exporter, same host, same run.

Every client of a burst connects at once (non-blocking sockets driven from one thread, so the
client side adds no threads of its own) and sends one GET /metrics with Prometheus's headers;
the figures are how many got 200, 503, another status or nothing, and the slowest answer.
Also: threads and resident memory of each exporter while 2,000 idle connections are open and
after they are closed.

Example::

    result = burst("127.0.0.1", 9101, clients=100)
    print(result.ok, result.busy, result.failed, result.slowest_s)
"""

from __future__ import annotations

import errno
import resource
import selectors
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.exporter import Exporter
from tests.harness.services import NodeExporter, Service

REQUEST = (
    b"GET /metrics HTTP/1.1\r\nHost: bench\r\nUser-Agent: Prometheus/2.42\r\n"
    b"Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
    b"Accept-Encoding: gzip\r\nConnection: close\r\n\r\n"
)
BURSTS = (20, 100, 300)


@dataclass(frozen=True, slots=True)
class Burst:
    """What `clients` simultaneous requests got."""

    clients: int
    ok: int  # 200
    busy: int  # 503
    other: int  # another status
    failed: int  # refused, reset or no answer within the timeout
    slowest_s: float  # slowest answered request (0 when none answered)
    slowest_busy_s: float = 0.0  # slowest 503: the excess must be turned away at once

    @property
    def answered(self) -> int:
        """Requests that got a status line."""
        return self.ok + self.busy + self.other


def raise_nofile(want: int) -> None:
    """Raise this process's soft open-files limit to at least `want` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def burst(host: str, port: int, clients: int, timeout: float = 30.0,
          request: bytes = REQUEST) -> Burst:
    """`clients` connections at once, one request each; read each answer to its end."""
    raise_nofile(clients + 256)
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    state: dict[socket.socket, list] = {}  # type: ignore[type-arg]
    failed = 0
    for _ in range(clients):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            failed += 1
            s.close()
            continue
        state[s] = [False, bytearray(), None]  # sent, received, seconds to the status line
        sel.register(s, selectors.EVENT_WRITE)
    statuses: list[tuple[int, float]] = []
    while state and time.monotonic() - start < timeout:
        for key, events in sel.select(timeout=0.2):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            st = state[s]
            try:
                if not st[0] and events & selectors.EVENT_WRITE:
                    s.sendall(request)
                    st[0] = True
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if chunk:
                st[1] += chunk
                if st[2] is None and b"\r\n" in st[1]:
                    st[2] = time.monotonic() - start
                if not _complete(st[1]):
                    continue
            sel.unregister(s)
            s.close()
            del state[s]
            status = _status(st[1])
            if status is None:
                failed += 1
            else:
                statuses.append((status, st[2] or time.monotonic() - start))
    for s in state:
        failed += 1
        s.close()
    sel.close()
    return Burst(
        clients=clients,
        ok=sum(1 for c, _ in statuses if c == 200),
        busy=sum(1 for c, _ in statuses if c == 503),
        other=sum(1 for c, _ in statuses if c not in (200, 503)),
        failed=failed,
        slowest_s=max((t for _, t in statuses), default=0.0),
        slowest_busy_s=max((t for c, t in statuses if c == 503), default=0.0),
    )


def _status(data: bytes) -> int | None:
    line = bytes(data).split(b"\r\n", 1)[0].split(b" ")
    if len(line) >= 2 and line[0].startswith(b"HTTP/1.") and line[1].isdigit():
        return int(line[1])
    return None


def _complete(data: bytearray) -> bool:
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False  # no length: read to the close


def open_idle(host: str, port: int, n: int) -> list[socket.socket]:
    """`n` connected sockets that send nothing."""
    raise_nofile(n + 256)
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect((host, port))
        socks.append(s)
    return socks


def threads_and_rss(pid: int) -> tuple[int, float]:
    """(threads, resident MB) of a process."""
    threads = rss = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return threads, rss / 1024


@dataclass(frozen=True, slots=True)
class Figures:
    """One exporter's burst and idle-connection figures."""

    name: str
    bursts: tuple[Burst, ...]
    base: tuple[int, float]  # threads, MB
    idle: tuple[int, float]  # with 2,000 idle connections open
    after: tuple[int, float]  # 2 s after they closed
    scrape_during_idle: bool  # a /metrics answered 200 while they were open


def measure(name: str, svc: Service, idle: int = 2000) -> Figures:
    """The bursts, then `idle` idle connections, against one running exporter."""
    assert svc.proc is not None
    pid = svc.proc.pid
    bursts = []
    for n in BURSTS:
        bursts.append(burst("127.0.0.1", svc.port, n))
        time.sleep(1.5)  # let a burst's connections and workers drain
    base = threads_and_rss(pid)
    socks = open_idle("127.0.0.1", svc.port, idle)
    time.sleep(0.5)
    during = threads_and_rss(pid)
    ok = burst("127.0.0.1", svc.port, 1).ok == 1
    for s in socks:
        s.close()
    time.sleep(2.0)
    return Figures(name, tuple(bursts), base, during, threads_and_rss(pid), ok)


def compare(workdir: Path | None = None) -> tuple[Figures, Figures]:
    """node_exporter and homelab-exporter, each measured with the same bursts."""
    own = workdir is None
    base = workdir or Path(tempfile.mkdtemp(prefix="homelab-bench-web-"))
    started: list[Service] = []
    try:
        node = NodeExporter(base / "node_exporter")
        started.append(node)
        node.start()
        ours = Exporter(base / "exporter", log_level="WARNING")
        started.append(ours)
        ours.start()
        return measure("node_exporter", node), measure("homelab-exporter", ours)
    finally:
        for svc in reversed(started):
            svc.stop()
        if own:
            shutil.rmtree(base, ignore_errors=True)


def format_table(node: Figures, ours: Figures) -> str:
    """Both exporters' figures side by side."""
    lines = [
        "Bursts of simultaneous GET /metrics (each client: connect, one request, read the "
        "answer; 30 s timeout), then 2,000 idle connections",
        f"{'':<34}{node.name:>24}{ours.name:>24}",
    ]
    for b, o in zip(node.bursts, ours.bursts, strict=True):
        def cell(x: Burst) -> str:
            return f"{x.ok}/{x.busy}/{x.other}/{x.failed} {x.slowest_s:.2f}s"

        lines.append(f"{f'{b.clients} clients: 200/503/other/none, max':<34}"
                     f"{cell(b):>24}{cell(o):>24}")  # fmt: skip
    for label, attr in (("threads, MB before idle", "base"), ("with 2,000 idle open", "idle"),
                        ("2 s after they closed", "after")):
        nb, ob = getattr(node, attr), getattr(ours, attr)
        lines.append(f"{label:<34}{f'{nb[0]}, {nb[1]:.1f}':>24}{f'{ob[0]}, {ob[1]:.1f}':>24}")
    lines.append(f"{'scrape answered during idle':<34}{node.scrape_during_idle!s:>24}"
                 f"{ours.scrape_during_idle!s:>24}")
    return "\n".join(lines)


def main() -> int:
    """Run and print (a measurement: exit status 0)."""
    print(format_table(*compare()))
    return 0
