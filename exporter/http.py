"""The exporter's HTTP face: /metrics (text or OpenMetrics, gzip when asked), /healthz, index.

A threading HTTP/1.1 server with keep-alive, as Prometheus scrapes. Each response goes out in
one write (status, headers and body together) with TCP_NODELAY, so no scrape waits on Nagle's
algorithm and a delayed ACK.

Example::

    server = MetricsServer(("127.0.0.1", 9101), exposition)
    threading.Thread(target=server.serve_forever).start()
"""

from __future__ import annotations

import logging
import socket
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exporter.prometheus import Exposition
from homelab import __version__

log = logging.getLogger(__name__)

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
INDEX = """<!doctype html>
<html><head><title>homelab-exporter</title></head>
<body><h1>homelab-exporter {version}</h1>
<p>This host's metrics with node_exporter's names (Prometheus) and Telegraf's schema (InfluxDB).</p>
<ul><li><a href="/metrics">/metrics</a></li><li><a href="/healthz">/healthz</a></li></ul>
</body></html>
"""


def _weights(header: str) -> dict[str, float]:
    """An Accept or Accept-Encoding header as {lower-cased item: q}; a bad q counts as 0."""
    out: dict[str, float] = {}
    for part in header.split(","):
        item, *params = (p.strip() for p in part.split(";"))
        if not item:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # also nan
                    q = 0.0
        key = item.lower()
        out[key] = max(q, out.get(key, 0.0))  # listed twice (two versions): the best
    return out


def wants_openmetrics(accept: str) -> bool:
    """True when the Accept header asks for OpenMetrics (with a non-zero quality)."""
    return _weights(accept).get("application/openmetrics-text", 0.0) > 0


def wants_gzip(accept_encoding: str) -> bool:
    """True when Accept-Encoding allows gzip (RFC 9110: case-insensitive, q=0 refuses it)."""
    weights = _weights(accept_encoding)
    for coding in ("gzip", "x-gzip"):  # x-gzip is an alias of gzip
        if coding in weights:
            return weights[coding] > 0
    return weights.get("*", 0.0) > 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"homelab-exporter/{__version__}"
    sys_version = ""
    server: MetricsServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, ctype: str, body: bytes, extra: str = "") -> None:
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            f"Server: {self.server_version}\r\n"
            f"Content-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        )
        payload = head.encode("latin-1")
        if self.command != "HEAD":
            payload += body
        self.wfile.write(payload)
        self.log_request(status, len(body))

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path in ("/healthz", "/-/healthy"):
            self._send(200, "text/plain; charset=utf-8", b"ok\n")
        elif path == "/":
            body = INDEX.format(version=__version__).encode()
            self._send(200, "text/html; charset=utf-8", body)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics\n")

    do_HEAD = do_GET

    def _metrics(self) -> None:
        headers = self.headers
        om = wants_openmetrics(headers.get("Accept", ""))
        try:
            body = self.server.exposition.render(openmetrics=om)
        except Exception:
            log.exception("rendering /metrics failed")
            self._send(500, "text/plain; charset=utf-8", b"collection failed; see the log\n")
            return
        extra = ""
        if wants_gzip(headers.get("Accept-Encoding", "")):
            body = zlib.compress(body, 1, wbits=31)
            extra = "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
        self._send(200, OPENMETRICS_TYPE if om else TEXT_TYPE, body, extra)


class MetricsServer(ThreadingHTTPServer):
    """ThreadingHTTPServer serving one Exposition."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        exposition: Exposition,
        handler: Callable[..., BaseHTTPRequestHandler] = _Handler,
    ) -> None:
        self.exposition = exposition
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
