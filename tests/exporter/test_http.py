"""HTTP: /metrics in the format and encoding the scraper asks for, /healthz, index, 404."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.collection import Collection
from exporter.http import MetricsServer, WebLimits, wants_gzip, wants_openmetrics
from exporter.prometheus import Exposition
from exporter.sampling import Sampler
from tests.exporter.conftest import fake_psutil
from tests.harness.services import wait_until
from tests.harness.threads import EntryCountingLock

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


class CountingSampler(Sampler):
    """Counts CPU reads; a test can hold them on `hold` to keep a collection running."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.cpu_reads = 0
        self.hold: threading.Event | None = None

    def cpu(self):  # type: ignore[no-untyped-def]
        """Counted, and held while `hold` is set and not released."""
        self.cpu_reads += 1
        if self.hold is not None:
            self.hold.wait(10)
        return super().cpu()


@pytest.fixture
def server(procfs: Path, sysfs: Path) -> Iterator[MetricsServer]:
    """A MetricsServer on a free loopback port, serving fixture data."""
    sampler = CountingSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())
    srv = MetricsServer(("127.0.0.1", 0), Exposition(Collection(sampler)))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(srv: MetricsServer, path: str, **headers: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    resp.body = resp.read()  # type: ignore[attr-defined]
    conn.close()
    return resp


def test_a_shutdown_before_serving_begins_is_not_lost(procfs: Path, sysfs: Path) -> None:
    """shutdown() that comes before serve_forever's thread has begun still ends it (it used to
    be dropped, leaving a server thread serving after its owner had gone)."""
    sampler = Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())
    srv = MetricsServer(("127.0.0.1", 0), Exposition(Collection(sampler)))
    srv.shutdown()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    thread.join(5)
    alive = thread.is_alive()
    srv.server_close()
    assert not alive


def test_plain_scrape_is_text_format(server: MetricsServer) -> None:
    """Without Accept headers: text format 0.0.4, uncompressed."""
    resp = _get(server, "/metrics")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    assert resp.getheader("Content-Encoding") is None
    assert b"node_load1 0.44\n" in resp.body  # type: ignore[attr-defined]


def test_prometheus_headers_get_gzipped_openmetrics(server: MetricsServer) -> None:
    """Prometheus's Accept and Accept-Encoding: OpenMetrics, gzip."""
    resp = _get(server, "/metrics", Accept=PROMETHEUS_ACCEPT, **{"Accept-Encoding": "gzip"})
    assert resp.getheader("Content-Type").startswith("application/openmetrics-text")
    assert resp.getheader("Content-Encoding") == "gzip"
    text = gzip.decompress(resp.body).decode()  # type: ignore[attr-defined]
    assert text.endswith("# EOF\n") and "# TYPE node_cpu_seconds counter" in text


def test_healthz_index_and_404(server: MetricsServer) -> None:
    """/healthz answers ok, / links to /metrics, anything else is 404."""
    assert _get(server, "/healthz").body == b"ok\n"  # type: ignore[attr-defined]
    assert b'href="/metrics"' in _get(server, "/").body  # type: ignore[attr-defined]
    assert _get(server, "/nope").status == 404


def test_keep_alive_serves_several_scrapes_on_one_connection(server: MetricsServer) -> None:
    """HTTP/1.1 keep-alive, as Prometheus scrapes."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    for _ in range(3):
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read()
    conn.close()


def test_a_sequential_scraper_is_served_by_one_worker_thread(server: MetricsServer) -> None:
    """Back-to-back scrapes on one connection: the worker counts as idle before it hands
    the answer back, so the next request finds it and no second thread is started."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    for _ in range(200):
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read()
    conn.close()
    assert server.workers._threads == 1


def test_concurrent_scrapes_share_one_collection(server: MetricsServer) -> None:
    """Five scrapes at once read the CPU source once, not five times."""
    sampler = server.exposition.collection.sampler
    assert isinstance(sampler, CountingSampler)
    # every scrape passes the collector's single-flight lock: count them through it, and hold
    # the first collection until all five have arrived, so that they overlap for certain
    entered = EntryCountingLock()
    server.exposition.collector._shared._lock = entered  # type: ignore[assignment]
    sampler.hold = threading.Event()
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(_get(server, "/metrics").status))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    all_in = entered.wait_for_entries(5, timeout=10)
    sampler.hold.set()
    for t in threads:
        t.join(10)
    assert all_in, f"only {entered.entries} of 5 scrapes reached the collector"
    assert statuses == [200] * 5
    assert sampler.cpu_reads == 1


def test_negotiation_helpers() -> None:
    """q=0 refuses a type or encoding."""
    assert wants_openmetrics(PROMETHEUS_ACCEPT)
    assert not wants_openmetrics("text/plain")
    assert not wants_openmetrics("application/openmetrics-text;q=0")
    assert wants_gzip("deflate, gzip;q=0.5") and not wants_gzip("gzip;q=0") and not wants_gzip("")


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("GZIP", True), ("Gzip;Q=0.5", True), ("x-gzip", True), ("*", True),
        ("gzip;q=0.00", False), ("gzip;q=0.000", False), ("gzip; q = 0", False),
        ("gzip;q=0.001", True), ("*;q=0, gzip;q=0.1", True), ("gzip;q=0, *", False),
        ("identity, *;q=0", False), ("br, deflate", False), ("gzip;q=bogus", False),
        ("gzip;q=2", False), ("", False),
    ],
)  # fmt: skip
def test_accept_encoding_is_case_insensitive_with_real_q_values(
    header: str, gzip_ok: bool
) -> None:
    """RFC 9110: codings and q compare case-insensitively, any spelling of zero refuses, an
    explicit gzip entry wins over `*`, and a malformed q counts as not acceptable."""
    assert wants_gzip(header) is gzip_ok


def test_openmetrics_q_values_are_numbers() -> None:
    """`q=0.00` refuses OpenMetrics too; the media type matches case-insensitively."""
    assert not wants_openmetrics("application/openmetrics-text;version=1.0.0;q=0.00")
    assert wants_openmetrics("Application/OpenMetrics-Text;version=1.0.0;q=0.5")


# -- the bounded server: limits, timeouts, bad requests ----------------------------------------


@pytest.fixture
def serve(procfs: Path, sysfs: Path) -> Iterator[Callable[..., MetricsServer]]:
    """Factory: a MetricsServer with the given WebLimits, serving fixture data."""
    started: list[MetricsServer] = []

    def make(**limits: Any) -> MetricsServer:
        sampler = CountingSampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())
        srv = MetricsServer(("127.0.0.1", 0), Exposition(Collection(sampler)), WebLimits(**limits))
        srv.workers.linger = 0.1
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.shutdown()
        srv.server_close()


def _raw(srv: MetricsServer, data: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes, read until the server closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        with contextlib.suppress(TimeoutError):
            while chunk := s.recv(65536):
                out += chunk
    return out


@pytest.mark.parametrize(
    "request_bytes",
    [b"GET /metrics\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n",
     b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"GET /metrics HTTP/3.0\r\n\r\n", b"hello\r\n\r\n"],
    ids=["http0.9", "tls-hello", "http2-preface", "http3", "garbage"],
)  # fmt: skip
def test_anything_not_http1_gets_a_400_and_a_close(server: MetricsServer,
                                                   request_bytes: bytes) -> None:
    """HTTP/0.9, HTTP/2's preface, a TLS hello or garbage: a status line 400, then the close."""
    answer = _raw(server, request_bytes)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:80]
    assert b"Connection: close" in answer


def test_http10_and_pipelined_requests(server: MetricsServer) -> None:
    """HTTP/1.0 is answered and closed; two pipelined HTTP/1.1 requests get two answers."""
    assert _raw(server, b"GET /healthz HTTP/1.0\r\n\r\n").endswith(b"ok\n")
    two = _raw(server, b"GET /healthz HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\nConnection: "
               b"close\r\n\r\n")  # fmt: skip
    assert two.count(b"HTTP/1.1 200 OK") == 2 and b"node_load1 0.44" in two


def test_requests_over_max_requests_get_503_at_once(serve: Callable[..., MetricsServer]) -> None:
    """With 2 scrapes held in collection, a third /metrics is answered 503 without waiting."""
    srv = serve(max_requests=2)
    sampler = srv.exposition.collection.sampler
    assert isinstance(sampler, CountingSampler)
    sampler.hold = threading.Event()
    entered = EntryCountingLock()
    srv.exposition.collector._shared._lock = entered  # type: ignore[assignment]
    held = [threading.Thread(target=lambda: _get(srv, "/metrics")) for _ in range(2)]
    for t in held:
        t.start()
    assert entered.wait_for_entries(1, timeout=10)
    wait_until(lambda: srv.stats.in_flight == 2, 10, "two requests in flight")
    resp = _get(srv, "/metrics")
    assert resp.status == 503 and resp.getheader("Retry-After") == "1"
    assert _get(srv, "/healthz").status == 200  # cheap paths are not capped
    sampler.hold.set()
    for t in held:
        t.join(10)
    assert srv.stats.requests[503] == 1 and srv.stats.in_flight == 0


def test_header_and_idle_timeouts_close_connections(serve: Callable[..., MetricsServer]) -> None:
    """Half-sent headers get a 408 and a close; a silent or kept-alive idle one is closed."""
    srv = serve(read_header_timeout=0.3, idle_timeout=0.6)
    assert _raw(srv, b"GET /metrics HTTP/1.1\r\nHost: x\r\n").startswith(b"HTTP/1.1 408 ")
    assert _raw(srv, b"") == b""  # connected, never sent a byte: closed without an answer
    kept = _raw(srv, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert kept.startswith(b"HTTP/1.1 200 OK") and kept.endswith(b"ok\n")  # then idle-closed
    assert srv.stats.closed == {"header_timeout": 2, "idle_timeout": 1}


def test_connection_cap_evicts_the_least_recently_active(
    serve: Callable[..., MetricsServer],
) -> None:
    """At max_connections a new client is served and the oldest idle connection is closed."""
    srv = serve(max_connections=16)
    port = srv.server_address[1]
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
    wait_until(lambda: srv.stats.connections == 16, 10, "16 connections")
    assert _get(srv, "/healthz").status == 200
    assert idle[0].recv(1) == b""  # the first one was closed for the newcomer
    assert srv.stats.closed["evicted"] >= 1 and srv.stats.connections <= 16
    for s in idle:
        s.close()


def test_burst_threads_end_after_the_work(serve: Callable[..., MetricsServer]) -> None:
    """A burst of 60 clients: 200 or 503 each, at most max_requests+reserved worker threads,
    and none left once it is over."""
    from bench.web import burst

    srv = serve(max_requests=8)
    result = burst("127.0.0.1", srv.server_address[1], 60, timeout=20)
    assert result.ok + result.busy == 60 and result.ok >= 8, result
    assert srv.workers._threads <= 8 + srv.limits.reserved
    wait_until(lambda: srv.workers._threads == 0, 10, "workers to end")
    assert not [t for t in threading.enumerate() if t.name == "http-worker"]


def test_web_metrics_are_served(server: MetricsServer) -> None:
    """The server's own counters appear in /metrics."""
    _raw(server, b"nonsense\r\n\r\n")
    body = _get(server, "/metrics").body.decode()  # type: ignore[attr-defined]
    assert 'homelab_exporter_http_requests_total{code="400"} 1' in body
    assert "homelab_exporter_http_requests_in_flight 1" in body
    assert "homelab_exporter_web_config_last_reload_successful 1" in body
