"""The serving process's lean imports: prometheus_client's data model alone, ssl only for TLS."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from exporter.config import InfluxConfig, RuntimeConfig
from exporter.leanimport import needs_tls
from tests.harness.services import uncovered_env

WATCHED = ("ssl", "_ssl", "_hashlib", "http.server", "wsgiref", "urllib.request",
           "prometheus_client.exposition", "prometheus_client.metrics")  # fmt: skip


def _fresh(code: str) -> dict[str, object]:
    """Run `code` in a new interpreter (imports are per process), not measured by coverage;
    it prints JSON last."""
    prelude = "import json, sys\n"
    out = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], check=True,
                         capture_output=True, text=True, timeout=60,
                         env=uncovered_env()).stdout  # fmt: skip
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def test_data_model_leaves_the_http_servers_out_until_another_name_is_read() -> None:
    """Registry, families and samples work without the package __init__, which runs on demand."""
    result = _fresh(f"""
        from exporter.leanimport import data_model
        data_model()
        from prometheus_client.registry import CollectorRegistry
        from prometheus_client.metrics_core import GaugeMetricFamily
        class One:
            def collect(self):
                yield GaugeMetricFamily("one", "One.", value=1.0)
        reg = CollectorRegistry()
        reg.register(One())
        value = reg.get_sample_value("one")
        before = [m for m in {WATCHED!r} if m in sys.modules]
        from prometheus_client import generate_latest
        body = generate_latest(reg).decode()
        print(json.dumps({{"value": value, "before": before, "body": body}}))
    """)
    assert result["value"] == 1.0
    assert result["before"] == []
    assert "one 1.0" in str(result["body"])


def test_without_ssl_keeps_openssl_out_when_no_tls_can_be_needed() -> None:
    """asyncio and http.client imported under the guard load no ssl; ssl imports afterwards."""
    result = _fresh("""
        from exporter.config import RuntimeConfig
        from exporter.leanimport import without_ssl
        with without_ssl(RuntimeConfig()):
            import asyncio, http.client
        inside = [m for m in ("ssl", "_ssl", "_hashlib") if m in sys.modules]
        maps = open("/proc/self/maps").read()
        import ssl
        print(json.dumps({"inside": inside, "libssl": "libssl" in maps,
                          "after": hasattr(ssl, "SSLContext")}))
    """)
    assert result == {"inside": [], "libssl": False, "after": True}


def test_without_ssl_lets_ssl_load_when_a_web_config_file_is_set() -> None:
    """A web config file can turn TLS on (at start or on SIGHUP): asyncio gets ssl then."""
    result = _fresh("""
        from exporter.config import RuntimeConfig
        from exporter.leanimport import without_ssl
        with without_ssl(RuntimeConfig(web_config_file="/etc/homelab/web.yml")):
            import asyncio.sslproto
        print(json.dumps({"ssl": asyncio.sslproto.ssl is not None}))
    """)
    assert result == {"ssl": True}


def test_needs_tls_for_a_web_config_file_or_an_https_influxdb() -> None:
    """TLS can be needed by the web config file or by an https InfluxDB URL (when enabled)."""
    assert not needs_tls(RuntimeConfig())
    assert needs_tls(RuntimeConfig(web_config_file="web.yml"))
    assert needs_tls(RuntimeConfig(influx=InfluxConfig(enabled=True, url="HTTPS://influx:8086")))
    assert not needs_tls(RuntimeConfig(influx=InfluxConfig(enabled=False, url="https://x")))
    assert not needs_tls(RuntimeConfig(influx=InfluxConfig(enabled=True, url="http://x:8086")))
