"""HTTP: /metrics in the format and encoding the scraper asks for, /healthz, index, 404."""

from __future__ import annotations

import gzip
import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.collection import Collection
from exporter.http import MetricsServer, wants_gzip, wants_openmetrics
from exporter.prometheus import Exposition
from exporter.sampling import Sampler
from tests.exporter.conftest import fake_psutil
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
