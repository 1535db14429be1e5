"""The default http.client transport against a local HTTP server that answers like InfluxDB v2."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from exporter import schema
from exporter.collection import Snapshot
from exporter.config import InfluxConfig
from exporter.influx import InfluxWriter
from exporter.sampling import KernelStats


class FakeV2(BaseHTTPRequestHandler):
    """/api/v2/write: 401 without the token, 400 on a body that is not gzip, else scripted."""

    protocol_version = "HTTP/1.1"
    script: list[tuple[int, dict[str, str]]] = []
    received: list[str] = []

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        """Answer one write."""
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Authorization") != "Token t0ken-abc":
            return self._answer(401, {}, b'{"code":"unauthorized","message":"unauthorized access"}')
        try:
            text = gzip.decompress(body).decode()
        except OSError:
            return self._answer(400, {}, b'{"code":"invalid","message":"not gzip"}')
        status, headers = self.script.pop(0) if self.script else (204, {})
        if status == 204:
            self.received.append(text)
        self._answer(status, headers, b"" if status == 204 else b'{"message":"later"}')
        if headers.get("Connection") == "close":
            self.close_connection = True

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    """The fake InfluxDB v2 on a free loopback port."""
    FakeV2.script = []
    FakeV2.received = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeV2)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


SNAP = Snapshot(time=1_700_000_000.0, load=(1.0, 2.0, 3.0), kernel=KernelStats(1.0, 0, 0, 0, 0, 0))
POINTS = 2  # system and kernel


def _writer(srv: ThreadingHTTPServer, tmp_path: Path, token: str = "t0ken-abc") -> InfluxWriter:  # noqa: S107
    cfg = InfluxConfig(
        enabled=True, api="v2", url=f"http://127.0.0.1:{srv.server_address[1]}", org="o",
        bucket="b", token=token, spool_dir=str(tmp_path / "spool"),
    )  # fmt: skip
    w = InfluxWriter(cfg, "nas", lambda: SNAP)
    w.sample_once()
    return w


def test_retry_after_header_is_read_through_http_client(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    """A 429 with Retry-After: 3 makes the writer wait 3 s; the next attempt delivers."""
    FakeV2.script = [(429, {"Retry-After": "3"})]
    w = _writer(server, tmp_path)
    assert w.deliver_once().retry_in == 3.0
    assert w.deliver_once().delivered == POINTS
    assert FakeV2.received == [
        "system,host=nas load1=1.0,load5=2.0,load15=3.0,uptime=1699999999i,"
        'uptime_format="19675 days, 22:13" 1700000000000\n'
        "kernel,host=nas boot_time=1i,context_switches=0i,interrupts=0i,processes_forked=0i "
        "1700000000000\n"
    ]


def test_a_server_closing_the_connection_is_reconnected(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    """After the server closes a kept-alive connection, the next write opens a new one."""
    FakeV2.script = [(204, {"Connection": "close"}), (204, {})]
    w = _writer(server, tmp_path)
    assert w.deliver_once().delivered == POINTS
    w.sample_once()
    assert w.deliver_once().delivered == POINTS
    assert len(FakeV2.received) == 2 and w.stats()[schema.INFLUX_WRITE_ERRORS] == 0


def test_wrong_token_is_an_error_with_the_servers_message(
    server: ThreadingHTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """401 from the server: logged with its message, points kept for the next attempt."""
    w = _writer(server, tmp_path, token="wrong-token")
    with caplog.at_level("ERROR"):
        assert w.deliver_once().retry_in > 0
    assert "unauthorized access" in caplog.text and w.spool.points() == POINTS


class BlockingV2(BaseHTTPRequestHandler):
    """/api/v2/write that holds each request until the test releases it, then answers 204."""

    protocol_version = "HTTP/1.1"
    entered = threading.Event()
    release = threading.Event()
    received: list[str] = []

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        """Take the points, wait for the test, accept them."""
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.entered.set()
        self.release.wait(10)
        self.received.extend(gzip.decompress(body).decode().splitlines())
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_full_spool_never_drops_the_segment_in_flight(tmp_path: Path) -> None:
    """While a post hangs, appends overflow the limit; once it succeeds, every point is counted
    exactly once: received == written, and written + dropped + spooled == appended."""
    BlockingV2.entered = threading.Event()
    BlockingV2.release = threading.Event()
    BlockingV2.received = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), BlockingV2)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cfg = InfluxConfig(
            enabled=True, api="v2", url=f"http://127.0.0.1:{srv.server_address[1]}", org="o",
            bucket="b", token="t", spool_dir=str(tmp_path / "spool"), batch_size=10,
            spool_max_bytes=2000,
        )  # fmt: skip
        w = InfluxWriter(cfg, "nas", lambda: SNAP)
        appended: list[str] = []

        def append(n: int) -> None:
            lines = [f"m,host=nas v={i}i {i}" for i in range(len(appended), len(appended) + n)]
            w.spool.append(lines)
            appended.extend(lines)

        for _ in range(3):
            append(10)
        sender = threading.Thread(target=w.deliver_once)
        sender.start()
        assert BlockingV2.entered.wait(10), "the sender never reached the server"
        for _ in range(30):  # ~200 bytes each, 6000 past a 2000-byte limit: older ones go
            append(10)
        assert w.spool.dropped > 0
        BlockingV2.release.set()
        sender.join(10)
        assert not sender.is_alive()
        assert w.written == len(BlockingV2.received) == 10
        assert w.written + w.spool.dropped + w.spool.points() == len(appended)
        while w.spool.points():
            assert w.deliver_once().delivered > 0
        received = BlockingV2.received
        assert len(set(received)) == len(received) == w.written
        assert w.written + w.spool.dropped == len(appended)
        assert len(set(appended) - set(received)) == w.spool.dropped
        assert w.spool.size() <= cfg.spool_max_bytes
    finally:
        BlockingV2.release.set()
        srv.shutdown()
        srv.server_close()
