"""The bot's HTTP face inside its process: /healthz, /metrics, and the Alertmanager webhook
(`POST /webhooks/alertmanager`, bot.interfaces.web.alerts) through `extra_routes`.

Example::

    app = build_app(registry, health=lambda: {"face": "console"})
    server = WebServer(app, "127.0.0.1", 9102)
    await server.start()
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from homelab.logs import Throttle

log = logging.getLogger(__name__)
# aiohttp's per-connection logger: what it says about requests it could not parse.
request_log = logging.getLogger(f"{__name__}.requests")
MALFORMED_LOG_INTERVAL_SECONDS = 60.0


class MalformedRequests(logging.Filter):
    """Turns aiohttp's traceback for each unparsable request into one throttled line.

    Anyone who can reach the port can send garbage; one ERROR with a 7-line traceback per
    request would bury the log. Other errors (a handler failing) pass unchanged.
    """

    def __init__(self, throttle: Throttle) -> None:
        super().__init__()
        self.throttle = throttle

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop or rewrite records of malformed requests; let every other record through."""
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        held = self.throttle.allow()
        if held is None:
            return False
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        reason = (exc.message or type(exc).__name__).strip().splitlines()[0].rstrip(":")
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "malformed HTTP request from %s answered %d: %s%s"
        record.args = (remote, exc.code, reason, self.throttle.note(held))
        record.exc_info = record.exc_text = None
        return True


class BotMetrics:
    """The bot's own metrics, on a registry the caller owns."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.commands = Counter(
            "homelab_bot_commands",
            "Commands and clicks handled, by name and outcome (allowed, refused)",
            ["command", "outcome"],
            registry=registry,
        )
        self.audit_head_row = Gauge(
            "homelab_bot_audit_head_row",
            "Row number of the audit log's head as last read; it never goes down unless rows "
            "were deleted from the end",
            registry=registry,
        )


class AlertMetrics:
    """Alert delivery's metrics: the receiver's, the outbox's and the worker's.

    Names are a contract with rules/alerts.yml (HomelabAlertOutboxStuck, ...).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, list(labels), registry=registry)

        self._received = counter(
            "homelab_bot_alerts_received", "Alerts in notifications the receiver accepted"
        )
        self._deduplicated = counter(
            "homelab_bot_alerts_deduplicated",
            "Alerts already stored (Alertmanager retries, cluster peers), not stored again",
        )
        self._delivered = counter(
            "homelab_bot_alerts_delivered", "Alert state changes delivered (posted or edited)"
        )
        self._retried = counter(
            "homelab_bot_alerts_retried", "Alert deliveries held for a retry (5xx, network)"
        )
        self._dead = counter(
            "homelab_bot_alerts_dead_lettered",
            "Alert state changes Discord refused for good (400, 403, 404): dead letters",
        )
        self._rejected = counter(
            "homelab_bot_webhook_rejected",
            "Webhook requests answered with an error, by reason",
            ("reason",),
        )
        self._depth = Gauge(
            "homelab_bot_alert_outbox_depth", "Alert state changes not delivered yet",
            registry=registry,
        )  # fmt: skip
        self._oldest = Gauge(
            "homelab_bot_alert_outbox_oldest_age_seconds",
            "Age of the oldest undelivered alert state change (0 when none)",
            registry=registry,
        )

    def received(self, n: int) -> None:
        """Alerts in accepted notifications."""
        self._received.inc(n)

    def deduplicated(self, n: int) -> None:
        """Alerts already stored."""
        self._deduplicated.inc(n)

    def rejected(self, reason: str) -> None:
        """A webhook request answered with an error."""
        self._rejected.labels(reason).inc()

    def delivered(self, n: int) -> None:
        """Alert state changes delivered."""
        self._delivered.inc(n)

    def retried(self, n: int) -> None:
        """Rows held for a retry."""
        self._retried.inc(n)

    def dead_lettered(self, n: int) -> None:
        """Rows dead-lettered."""
        self._dead.inc(n)

    def outbox(self, depth: int, oldest_age: float) -> None:
        """The outbox's depth and oldest age."""
        self._depth.set(depth)
        self._oldest.set(oldest_age)


def build_app(
    registry: CollectorRegistry,
    health: Callable[[], dict[str, Any]],
    extra_routes: Iterable[web.RouteDef] = (),
) -> web.Application:
    """The aiohttp application: /healthz (JSON) and /metrics (Prometheus text format)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **health()})

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics), *extra_routes])
    return app


class WebServer:
    """Runs an application on one address until stopped."""

    def __init__(
        self, app: web.Application, host: str, port: int, throttle: Throttle | None = None
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._malformed = MalformedRequests(throttle or Throttle(MALFORMED_LOG_INTERVAL_SECONDS))

    async def start(self) -> None:
        """Bind and serve; `port` 0 picks a free port (read it back from `.port`)."""
        if self._malformed not in request_log.filters:
            request_log.addFilter(self._malformed)
        self._runner = web.AppRunner(self.app, access_log=None, logger=request_log)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise OSError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "change [bot.web] port or stop what uses it"
            ) from exc
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        paths = ", ".join(r.canonical for r in self.app.router.resources())
        log.info("web face on http://%s:%d (%s)", self.host, self.port, paths)

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        request_log.removeFilter(self._malformed)
