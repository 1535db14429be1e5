"""Real Prometheus scrapes the real exporter through TLS and basic auth, and through abuse."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from bench.web import burst, open_idle, threads_and_rss
from tests.harness.exporter import Exporter
from tests.harness.services import static_job, wait_until
from tests.harness.tls import make_pki

pytestmark = pytest.mark.integration
PASSWORD = "scrape-secret"


def test_prometheus_scrapes_through_tls_and_basic_auth(
    start_service: Callable[..., Any], prometheus_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """After SIGHUP loads TLS + auth, Prometheus (https, basic_auth, tls_config) scrapes `up` 1;
    a job with a wrong password is refused 401 and counted; no password in the log."""
    pki = make_pki(tmp_path / "pki")
    web = tmp_path / "web.yml"
    web.write_text("")
    exp: Exporter = start_service(Exporter, web_config_file=str(web))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    web.write_text(f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: "
                   f"{pki.server_key}\nbasic_auth_users:\n  prometheus: '{hashed}'\n")  # fmt: skip
    os.kill(exp.pid, signal.SIGHUP)
    wait_until(lambda: "web config reloaded" in exp.log_path.read_text(), 10, "the reload")
    tls = {"ca_file": str(pki.ca_cert)}
    prom = prometheus_factory(scrape_configs=[
        static_job("good", exp.address, scheme="https", tls_config=tls,
                   basic_auth={"username": "prometheus", "password": PASSWORD}),
        static_job("bad", exp.address, scheme="https", tls_config=tls,
                   basic_auth={"username": "prometheus", "password": "wrong-one"}),
    ])  # fmt: skip
    prom.wait_for_value('up{job="good"}', lambda v: v == 1)
    prom.wait_for_value('up{job="bad"}', lambda v: v == 0)
    prom.wait_for_value('homelab_exporter_http_auth_failures_total{job="good",reason="wrong"}',
                        lambda v: v >= 1)
    prom.wait_for_value('node_load1{job="good"}', lambda v: v >= 0)
    assert "wrong-one" not in exp.log_path.read_text() and PASSWORD not in exp.log_path.read_text()


def test_idle_slow_and_bursting_clients_fail_no_scrape(
    start_service: Callable[..., Any], prometheus_factory: Callable[..., Any]
) -> None:
    """While Prometheus scrapes every second: 2,000 idle connections, 200 slow-header clients,
    bursts of 100 and 300: every scrape succeeds, every burst request gets 200 or 503 (the
    excess within 1 s; a 200 takes what a scrape takes), and threads and memory come back near
    their baseline."""
    exp: Exporter = start_service(Exporter, web_read_header_timeout_seconds=3,
                                  web_max_connections=4096)  # fmt: skip
    prom = prometheus_factory(scrape_configs=[static_job("homelab", exp.address,
                                                         scrape_timeout="1s")])  # fmt: skip
    prom.wait_for_value('up{job="homelab"}', lambda v: v == 1)
    time.sleep(1)
    base_threads, base_rss = threads_and_rss(exp.pid)
    start = time.time()
    idle = open_idle("127.0.0.1", exp.port, 2000)
    slow = open_idle("127.0.0.1", exp.port, 200)
    for s in slow:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    during_threads, during_rss = threads_and_rss(exp.pid)
    results = [burst("127.0.0.1", exp.port, n, timeout=5) for n in (100, 300)]
    for s in idle + slow:
        s.close()
    time.sleep(3)
    end = time.time()
    for r in results:
        assert r.ok + r.busy == r.clients and r.failed == 0 and r.other == 0, r
        assert r.busy > 0 and r.slowest_busy_s < 1.0, r  # turned away at once, not queued
    window = f"{int(end - start) + 1}s"
    scrapes = prom.query(f'count_over_time(up{{job="homelab"}}[{window}])')
    failed = prom.query(f'count_over_time((up{{job="homelab"}} == 0)[{window}:1s])')
    assert float(scrapes[0]["value"][1]) >= (end - start) - 2
    assert not failed or float(failed[0]["value"][1]) == 0
    after_threads, after_rss = threads_and_rss(exp.pid)
    assert during_threads <= base_threads + 2  # idle connections cost no thread
    assert after_threads <= base_threads + 2
    assert after_rss <= base_rss + 15, (base_rss, during_rss, after_rss)

