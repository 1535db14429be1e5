"""The bot's HTTP face inside its process: /healthz and /metrics (the Alertmanager webhook
will join as `POST /webhooks/alertmanager` through `extra_routes`).

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
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

log = logging.getLogger(__name__)


class BotMetrics:
    """The bot's own metrics, on a registry the caller owns."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.commands = Counter(
            "homelab_bot_commands",
            "Commands and clicks handled, by name and outcome (allowed, refused)",
            ["command", "outcome"],
            registry=registry,
        )


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

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and serve; `port` 0 picks a free port (read it back from `.port`)."""
        self._runner = web.AppRunner(self.app, access_log=None)
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
        log.info("web face on http://%s:%d (/healthz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
