"""The exporter's HTTP face: /metrics (text or OpenMetrics, gzip when asked), /healthz, index.

A bounded HTTP/1.1 server with keep-alive, as Prometheus scrapes, built so that idle, slow or
bursting clients cannot exhaust threads or memory or starve the scrape:

- one asyncio event loop thread accepts (listen backlog 4096), reads and parses requests and
  writes responses; an idle connection costs a socket and a few kB, never a thread;
- the blocking work (collection and rendering of /metrics, bcrypt checks) runs on at most
  `max_requests` worker threads (node_exporter's `--web.max-requests`, 40), started on demand
  and ending a second after the work is done; a request over the cap is answered 503 at once;
- connections are capped (`max_connections`): at the cap the least recently active idle or
  still-unsent connection is closed for the new one; headers must arrive within
  `read_header_timeout`, a kept-alive connection is closed after `idle_timeout`;
- anything that is not an HTTP/1.x request gets a 400; TLS and basic auth come from the optional
  web config file (exporter/webconfig.py), reloaded on SIGHUP.

Each response goes out in one write (status, headers and body together) with TCP_NODELAY, so no
scrape waits on Nagle's algorithm and a delayed ACK.

Example::

    server = MetricsServer(("127.0.0.1", 9101), exposition)
    threading.Thread(target=server.serve_forever).start()
    ...
    server.shutdown()
    server.server_close()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import queue
import socket
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import Metric

from exporter.prometheus import Exposition, Family, to_metric
from exporter.webconfig import WebConfig, WebConfigError, load_web_config
from homelab import __version__

if TYPE_CHECKING:  # ssl is imported only when TLS is on (see exporter/serve.py)
    import ssl

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


# the exporter's web metrics (homelab_exporter_ namespace, beside those of exporter/schema.py)
HTTP_REQUESTS = "homelab_exporter_http_requests_total"  # {code}
HTTP_IN_FLIGHT = "homelab_exporter_http_requests_in_flight"
HTTP_CONNECTIONS = "homelab_exporter_http_connections"
HTTP_CLOSED = "homelab_exporter_http_connections_closed_total"  # {reason}
HTTP_AUTH_FAILURES = "homelab_exporter_http_auth_failures_total"  # {reason}
TLS_HANDSHAKE_FAILURES = "homelab_exporter_tls_handshake_failures_total"
WEB_CONFIG_RELOAD_OK = "homelab_exporter_web_config_last_reload_successful"
WEB_CONFIG_RELOAD_TIME = "homelab_exporter_web_config_last_reload_success_timestamp_seconds"

SWEEP_SECONDS = 0.25
WORKER_LINGER_SECONDS = 1.0
PLAIN = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class WebLimits:
    """The server's bounds; defaults as node_exporter's where it has one."""

    max_requests: int = 40  # node_exporter --web.max-requests
    max_connections: int = 1024
    read_header_timeout: float = 10.0
    idle_timeout: float = 120.0
    write_timeout: float = 30.0
    backlog: int = 4096  # the kernel caps it at net.core.somaxconn
    max_header_bytes: int = 16384

    @property
    def reserved(self) -> int:
        """Extra slots for connections already served a /metrics 200 (Prometheus's kept-alive
        scrape connection), so that a burst of new clients cannot fail the scrape."""
        return max(2, self.max_requests // 10)


@dataclass(slots=True)
class WebStats:
    """Counters of the server, written on its event loop thread, read by the collector."""

    requests: dict[int, int] = field(default_factory=dict)
    closed: dict[str, int] = field(default_factory=dict)
    auth_failures: dict[str, int] = field(default_factory=dict)
    tls_failures: int = 0
    in_flight: int = 0
    connections: int = 0
    reload_ok: bool = True
    reload_time: float = field(default_factory=time.time)

    def bump(self, table: dict, key: object) -> None:  # type: ignore[type-arg]
        """Add one to a labelled counter."""
        table[key] = table.get(key, 0) + 1


class WebCollector:
    """prometheus_client custom collector for WebStats (registered in the Exposition)."""

    def __init__(self, stats: WebStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        """The web server's families."""
        s = self.stats
        fams = [
            Family(HTTP_REQUESTS, "counter", "HTTP responses by status code.",
                   [((("code", str(c)),), n) for c, n in sorted(s.requests.items())]),
            Family(HTTP_IN_FLIGHT, "gauge", "Requests being served (capped by max_requests).",
                   [((), s.in_flight)]),
            Family(HTTP_CONNECTIONS, "gauge", "Open HTTP connections.", [((), s.connections)]),
            Family(HTTP_CLOSED, "counter",
                   "Connections closed by the server: header_timeout, idle_timeout, "
                   "write_timeout, evicted (connection cap), refused (cap, none evictable), "
                   "bad_request.",
                   [((("reason", r),), n) for r, n in sorted(s.closed.items())]),
            Family(HTTP_AUTH_FAILURES, "counter",
                   "Refused basic auth: missing, malformed or wrong credentials.",
                   [((("reason", r),), n) for r, n in sorted(s.auth_failures.items())]),
            Family(TLS_HANDSHAKE_FAILURES, "counter", "Failed or timed-out TLS handshakes.",
                   [((), s.tls_failures)]),
            Family(WEB_CONFIG_RELOAD_OK, "gauge",
                   "1 if the last load of the web config file succeeded.",
                   [((), 1 if s.reload_ok else 0)]),
            Family(WEB_CONFIG_RELOAD_TIME, "gauge",
                   "Unix time of the last successful load of the web config file.",
                   [((), s.reload_time)]),
        ]  # fmt: skip
        return iter([to_metric(f) for f in fams if f.samples])

    def describe(self) -> list[Metric]:
        """Nothing up front."""
        return []


Job = Callable[[], Callable[[], object] | None]  # returns how to hand its result back


class _Workers:
    """Threads for the blocking part of requests: at most `limit`, started on demand, each
    ending after `linger` idle seconds (the stdlib's ThreadPoolExecutor never shrinks, so a
    burst would leave its threads behind)."""

    def __init__(self, limit: int, linger: float = WORKER_LINGER_SECONDS) -> None:
        self.limit = limit
        self.linger = linger
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0

    def submit(self, job: Job) -> None:
        """Run `job` on a worker thread (the caller caps how many are in flight).

        What `job` returns, if anything, is called once the thread counts as idle again: it is
        how the job hands its result back. Handing it back first would let the next request
        (a scraper's, sent as soon as the answer arrives) find no idle thread and start
        another, so that a single sequential client kept several threads taking turns.
        """
        with self._lock:
            self._jobs.put(job)
            if self._idle == 0 and self._threads < self.limit:
                self._threads += 1
                threading.Thread(target=self._run, name="http-worker", daemon=True).start()

    def _run(self) -> None:
        then: Callable[[], object] | None = None
        while True:
            with self._lock:
                self._idle += 1
            if then is not None:
                then()
                then = None
            try:
                job = self._jobs.get(timeout=self.linger)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._jobs.empty():
                        self._threads -= 1
                        return
                continue
            with self._lock:
                self._idle -= 1
            try:
                then = job()
            except Exception:
                log.exception("an HTTP worker job failed")


def _response(status: int, ctype: str, body: bytes, extra: str = "", *, head: bool = False,
              keep_alive: bool = True) -> bytes:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    conn = "" if keep_alive else "Connection: close\r\n"
    text = (
        f"HTTP/1.1 {status} {reason}\r\nServer: {SERVER}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n{conn}{extra}\r\n"
    )
    return text.encode("latin-1") + (b"" if head else body)


SERVER = f"homelab-exporter/{__version__}"
_IDLE, _HEADER, _HANDSHAKE, _BUSY = "idle", "header", "handshake", "busy"


class _Conn(asyncio.Protocol):
    """One client connection, driven by the event loop."""

    def __init__(self, server: MetricsServer) -> None:
        self.srv = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.state = _HEADER
        self.since = time.monotonic()
        self.got_bytes = False
        self.trusted = False  # served a /metrics 200 before
        self.paused_since: float | None = None
        self.closed = False
        self.peer = "?"

    # -- transport callbacks ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if not self.srv._opened(self):
            return
        ctx = self.srv.web.ssl_context()
        if ctx is not None:
            self.state = _HANDSHAKE
            transport.pause_reading()  # the ClientHello is for start_tls, not for us
            self.srv._loop_tasks.add(asyncio.ensure_future(self._tls(ctx)))

    async def _tls(self, ctx: ssl.SSLContext) -> None:
        import ssl

        loop = asyncio.get_running_loop()
        assert self.transport is not None
        try:
            tls = await loop.start_tls(self.transport, self, ctx, server_side=True,
                                       ssl_handshake_timeout=self.srv.limits.read_header_timeout)
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError) as exc:
            self.srv.stats.tls_failures += 1
            log.info("TLS handshake with %s failed: %s", self.peer,
                     getattr(exc, "reason", None) or type(exc).__name__)
            self.transport.abort()
            self._gone()
            return
        finally:
            self.srv._loop_tasks.discard(asyncio.current_task())
        if tls is None or self.closed:
            return
        self.transport = tls
        self.state = _HEADER
        self.since = time.monotonic()
        self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone()

    def pause_writing(self) -> None:
        self.paused_since = time.monotonic()

    def resume_writing(self) -> None:
        self.paused_since = None
        self._process()

    def data_received(self, data: bytes) -> None:
        if self.state == _HANDSHAKE:  # decrypted bytes can come before start_tls returns
            self.buf += data
            return
        if self.state == _IDLE:
            self.state = _HEADER
            self.since = time.monotonic()
        self.got_bytes = True
        self.srv._touch(self)
        self.buf += data
        if len(self.buf) > 4 * self.srv.limits.max_header_bytes:  # pipelined flood while busy
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._process()

    # -- parsing ------------------------------------------------------------------------------
    def _process(self) -> None:
        while not self.closed and self.state != _BUSY and self.paused_since is None:
            buf = self.buf
            if not buf:
                return
            if self.state == _IDLE:
                self.state = _HEADER
                self.since = time.monotonic()
            nl = buf.find(b"\n")
            limit = self.srv.limits.max_header_bytes
            if nl < 0:
                if len(buf) > limit:
                    self._fail(414, "request line too long")
                return
            line = bytes(buf[:nl]).rstrip(b"\r")
            if not line:  # RFC 9112 2.2: ignore empty lines before a request line
                del buf[: nl + 1]
                continue
            parts = line.split(b" ")
            version = parts[2] if len(parts) == 3 else b""
            if not (len(version) == 8 and version.startswith(b"HTTP/1.") and version[7:].isdigit()
                    and parts[0].isalpha() and parts[1]):
                self._fail(400, "not an HTTP/1.x request")
                return
            end = buf.find(b"\r\n\r\n")
            skip = 4
            if end < 0:
                end, skip = buf.find(b"\n\n"), 2
            if end < 0:
                if len(buf) > limit:
                    self._fail(431, "request headers too large")
                return
            if end > limit:
                self._fail(431, "request headers too large")
                return
            head = bytes(buf[:end])
            del buf[: end + skip]
            headers: dict[str, str] = {}
            for raw in head.split(b"\n")[1:]:
                name, sep, value = raw.rstrip(b"\r").partition(b":")
                if not sep or not name or name != name.strip():
                    self._fail(400, "malformed header line")
                    return
                headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
            self._request(parts[0].decode("latin-1"), parts[1].decode("latin-1"),
                          version == b"HTTP/1.1", headers)

    def _fail(self, status: int, why: str) -> None:
        self.srv.stats.bump(self.srv.stats.closed, "bad_request")
        log.debug("%s: %d %s", self.peer, status, why)
        self._write(_response(status, PLAIN, f"{why}\n".encode(), keep_alive=False), status,
                    keep_alive=False)

    # -- requests -----------------------------------------------------------------------------
    def _request(self, method: str, target: str, http11: bool, headers: dict[str, str]) -> None:
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection if http11 else "keep-alive" in connection
        if headers.get("transfer-encoding") or headers.get("content-length", "0") not in ("", "0"):
            keep = False  # a GET with a body: answer, then close rather than read it
            self.buf.clear()
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            self._write(_response(405, PLAIN, b"only GET and HEAD\n", "Allow: GET, HEAD\r\n",
                                  keep_alive=keep), 405, keep)
            return
        web = self.srv.web
        user = password = ""
        need_check = False
        if web.auth_required:
            creds = _basic_credentials(headers.get("authorization", ""))
            if creds is None:
                reason = "missing" if "authorization" not in headers else "malformed"
                self._unauthorized(reason, "", head, keep)
                return
            user, password = creds
            need_check = not web.cached_ok(user, password)
        path = target.split("?", 1)[0]
        if path != "/metrics" and not need_check:
            status, ctype, body = _static(path)
            self._write(_response(status, ctype, body, head=head, keep_alive=keep), status, keep)
            return
        if not self.srv._admit(self.trusted):
            self._write(_response(503, PLAIN, b"too many concurrent requests; retry later\n",
                                  "Retry-After: 1\r\n", head=head, keep_alive=keep), 503, keep)
            return
        self.state = _BUSY
        accept = headers.get("accept", "")
        encoding = headers.get("accept-encoding", "")
        loop = self.srv._loop
        assert loop is not None

        def job() -> Callable[[], object]:
            try:
                if need_check and not web.check_password(user, password):
                    return lambda: loop.call_soon_threadsafe(self._done, None, 401, keep, user)
                if path == "/metrics":
                    status, payload = self.srv._metrics(accept, encoding, head, keep)
                else:
                    status, ctype, body = _static(path)
                    payload = _response(status, ctype, body, head=head, keep_alive=keep)
            except BaseException:
                loop.call_soon_threadsafe(self.srv._release)
                raise
            return lambda: loop.call_soon_threadsafe(self._done, payload, status, keep, user)

        self.srv.workers.submit(job)

    def _done(self, payload: bytes | None, status: int, keep: bool, user: str) -> None:
        self.srv._release()
        if self.closed:
            return
        self.state = _HEADER
        if payload is None:
            self._unauthorized("wrong", user, False, keep)
        else:
            if status == 200:
                self.trusted = True
            self._write(payload, status, keep)
        self._process()

    def _unauthorized(self, reason: str, user: str, head: bool, keep: bool) -> None:
        self.srv.stats.bump(self.srv.stats.auth_failures, reason)
        if reason != "missing":  # a first request without credentials is normal HTTP
            log.warning("basic auth refused for %s: %s credentials%s", self.peer, reason,
                        f" for user {user!r}" if user else "")
        self._write(_response(401, PLAIN, b"Unauthorized\n",
                              'WWW-Authenticate: Basic realm="homelab-exporter"\r\n',
                              head=head, keep_alive=keep), 401, keep)

    def _write(self, payload: bytes, status: int, keep_alive: bool) -> None:
        self.srv.stats.bump(self.srv.stats.requests, status)
        assert self.transport is not None
        self.transport.write(payload)
        if keep_alive:
            self.state = _IDLE if not self.buf else _HEADER
            self.since = time.monotonic()
            self.got_bytes = bool(self.buf)
        else:
            self.state = _BUSY  # read nothing more
            self.transport.close()  # after the write buffer is flushed

    def close(self, reason: str, status: int | None = None) -> None:
        """Close from the server's side (timeouts, eviction), counted under `reason`."""
        if self.closed:
            return
        self.srv.stats.bump(self.srv.stats.closed, reason)
        assert self.transport is not None
        if status is not None and self.state == _HEADER:
            body = f"{HTTPStatus(status).phrase}\n".encode()
            self.srv.stats.bump(self.srv.stats.requests, status)
            self.transport.write(_response(status, PLAIN, body, keep_alive=False))
            self.transport.close()
        else:
            self.transport.abort()
        self._gone()

    def _gone(self) -> None:
        if not self.closed:
            self.closed = True
            self.srv._closed(self)


def _basic_credentials(value: str) -> tuple[str, str] | None:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(":")
    return (user, password) if sep else None


def _static(path: str) -> tuple[int, str, bytes]:
    if path in ("/healthz", "/-/healthy"):
        return 200, PLAIN, b"ok\n"
    if path == "/":
        return 200, "text/html; charset=utf-8", INDEX.format(version=__version__).encode()
    return 404, PLAIN, b"not found: try /metrics\n"


class MetricsServer:
    """The bounded HTTP server serving one Exposition (and its own WebCollector in it).

    The listening socket is bound in the constructor (an OSError there names the problem);
    `serve_forever()` runs the event loop in the calling thread until `shutdown()`.
    """

    def __init__(
        self,
        address: tuple[str, int],
        exposition: Exposition,
        limits: WebLimits | None = None,
        web_config_file: Path | str | None = None,
    ) -> None:
        self.exposition = exposition
        self.limits = limits or WebLimits()
        self.web_config_file = Path(web_config_file) if web_config_file else None
        self.stats = WebStats()
        self.web: WebConfig = load_web_config(self.web_config_file)  # WebConfigError: no start
        self.workers = _Workers(self.limits.max_requests + self.limits.reserved)
        self._conns: OrderedDict[_Conn, None] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_tasks: set[asyncio.Future[None]] = set()
        self._stopped = threading.Event()
        self._running = False
        # shutdown() may come before serve_forever's thread has begun: the flag, under the lock,
        # keeps that early shutdown from being lost (the server would otherwise run on, unowned)
        self._life = threading.Lock()
        self._stop_requested = False
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(self.limits.backlog)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        exposition.registry.register(WebCollector(self.stats))

    # -- lifecycle ----------------------------------------------------------------------------
    def serve_forever(self) -> None:
        """Serve until `shutdown()`."""
        loop = asyncio.new_event_loop()
        try:
            try:
                server = loop.run_until_complete(loop.create_server(
                    lambda: _Conn(self), sock=self.socket, backlog=self.limits.backlog))
            except OSError:
                if self._stop_requested:  # shut down and closed before it began: nothing to do
                    return
                raise
            with self._life:
                stop_now = self._stop_requested
                if not stop_now:
                    self._loop = loop
                    self._running = True
            if not stop_now:
                loop.call_later(SWEEP_SECONDS, self._sweep)
                loop.run_forever()
            server.close()
            for conn in list(self._conns):
                conn.close("shutdown")
            for task in list(self._loop_tasks):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serve_forever (from another thread) and wait for it."""
        with self._life:
            self._stop_requested = True
            loop = self._loop
            if loop is None or not self._running:
                return  # not serving (yet): a serve_forever that begins now stops at once
            self._running = False
            loop.call_soon_threadsafe(loop.stop)
        self._stopped.wait(10)

    def server_close(self) -> None:
        """Close the listening socket."""
        self.socket.close()

    def reload_web_config(self) -> bool:
        """Read the web config file again (SIGHUP); on an error the old one stays in force."""
        try:
            web = load_web_config(self.web_config_file)
        except WebConfigError as exc:
            self.stats.reload_ok = False
            log.error("web config not reloaded, the previous one stays in force: %s", exc)
            return False
        self.web = web  # new connections and requests use it; cached auth starts afresh
        self.stats.reload_ok = True
        self.stats.reload_time = time.time()
        log.info("web config reloaded: TLS %s, basic auth %s", "on" if web.tls else "off",
                 f"{len(web.users)} user(s)" if web.users else "off")
        return True

    # -- bookkeeping (event loop thread) ------------------------------------------------------
    def _opened(self, conn: _Conn) -> bool:
        if len(self._conns) >= self.limits.max_connections:
            victim = next((c for c in self._conns if c.state in (_IDLE, _HEADER, _HANDSHAKE)),
                          None)
            if victim is None:
                self.stats.bump(self.stats.closed, "refused")
                assert conn.transport is not None
                conn.transport.abort()
                conn.closed = True
                return False
            victim.close("evicted")
        self._conns[conn] = None
        self.stats.connections = len(self._conns)
        return True

    def _touch(self, conn: _Conn) -> None:
        if conn in self._conns:
            self._conns.move_to_end(conn)

    def _closed(self, conn: _Conn) -> None:
        self._conns.pop(conn, None)
        self.stats.connections = len(self._conns)

    def _admit(self, trusted: bool) -> bool:
        cap = self.limits.max_requests + (self.limits.reserved if trusted else 0)
        if self.stats.in_flight >= cap:
            return False
        self.stats.in_flight += 1
        return True

    def _release(self) -> None:
        self.stats.in_flight -= 1

    def _sweep(self) -> None:
        now = time.monotonic()
        lim = self.limits
        for conn in list(self._conns):
            age = now - conn.since
            if conn.paused_since is not None and now - conn.paused_since > lim.write_timeout:
                conn.close("write_timeout")
            elif conn.state == _IDLE and age > lim.idle_timeout:
                conn.close("idle_timeout")
            elif conn.state == _HEADER and age > lim.read_header_timeout:
                conn.close("header_timeout", 408 if conn.got_bytes else None)
        if self._loop is not None and self._running:
            self._loop.call_later(SWEEP_SECONDS, self._sweep)

    # -- /metrics (worker thread) -------------------------------------------------------------
    def _metrics(self, accept: str, encoding: str, head: bool, keep: bool) -> tuple[int, bytes]:
        om = wants_openmetrics(accept)
        try:
            body = self.exposition.render(openmetrics=om)
        except Exception:
            log.exception("rendering /metrics failed")
            return 500, _response(500, PLAIN, b"collection failed; see the log\n", head=head,
                                  keep_alive=keep)
        extra = ""
        if wants_gzip(encoding):
            body = zlib.compress(body, 1, wbits=31)
            extra = "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
        ctype = OPENMETRICS_TYPE if om else TEXT_TYPE
        return 200, _response(200, ctype, body, extra, head=head, keep_alive=keep)
