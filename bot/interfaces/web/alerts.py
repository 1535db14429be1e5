"""The Alertmanager webhook receiver: `POST /webhooks/alertmanager` on the bot's web face.

Alertmanager retries only on 5xx and drops a notification on any 4xx, so the answers are:
401 unauthenticated (429 with Retry-After once an address fails too often), 413 over the body
limit, 400 not JSON, 422 not a version-4 payload (naming the field), 503 when the outbox could
not store it (Alertmanager retries), 200 once every alert is committed. The answer never
waits on Discord: delivery is the worker's job.

Example::

    receiver = AlertReceiver(ingest, WebhookAuth.from_settings(settings.alerts), metrics)
    app = build_app(registry, health, extra_routes=receiver.routes())
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiohttp import web

from bot.domain.alerts.model import PayloadError, parse_notification
from bot.domain.ratelimit import Backoff, BucketRule, RateLimiter
from bot.services.alert_ingest import AlertIngest
from bot.services.ports import ServiceError
from bot.settings import AlertsSettings
from homelab.logs import Throttle

log = logging.getLogger(__name__)

PATH = "/webhooks/alertmanager"


class ReceiverConfigError(Exception):
    """The receiver's credentials cannot be read; the message names the setting."""


@dataclass(frozen=True, slots=True)
class _Secret:
    path: Path
    mtime: float
    value: bytes


class WebhookAuth:
    """Bearer token or basic auth, read from files, compared in constant time.

    The files are re-read when they change, so a rotated token needs no restart.
    `open_door` (allow_unauthenticated) accepts every request; `refuse_all` is the state when
    nothing is configured: every request gets 503 with the reason, so Alertmanager keeps
    the notification and retries until the operator sets credentials.
    """

    def __init__(
        self,
        *,
        token_file: Path | None = None,
        username: str = "",
        password_file: Path | None = None,
        open_door: bool = False,
        token: str = "",
        password: str = "",
    ) -> None:
        self.token_file = token_file
        self.username = username
        self.password_file = password_file
        self.open_door = open_door
        # From the vault ([bot.alerts] credentials / password = "secret:<name>"), in memory.
        self.token = token.strip().encode()
        self.password = password.strip().encode()
        self._cache: dict[Path, _Secret] = {}
        if not open_door and token_file is None and not self.token and not username:
            self.problem = (
                "the alert receiver is not configured to check who calls it. Set [bot.alerts] "
                "credentials_file or credentials = \"secret:<name>\" (the bearer token "
                "Alertmanager sends) or username and password_file (or password); "
                "allow_unauthenticated = true accepts anyone (tests on loopback only)"
            )
        else:
            self.problem = ""
        for path, setting in ((token_file, "credentials_file"), (password_file, "password_file")):
            if path is not None:
                self._read(path, setting)

    @classmethod
    def from_settings(cls, s: AlertsSettings) -> WebhookAuth:
        """From [bot.alerts]; raises ReceiverConfigError naming an unreadable file."""
        return cls(
            token_file=s.credentials_file,
            username=s.username,
            password_file=s.password_file,
            open_door=s.allow_unauthenticated and not s.authenticated(),
            token=s.credentials.get_secret_value(),
            password=s.password.get_secret_value(),
        )

    def _read(self, path: Path, setting: str = "") -> bytes:
        try:
            mtime = path.stat().st_mtime
            cached = self._cache.get(path)
            if cached is not None and cached.mtime == mtime:
                return cached.value
            value = path.read_text().strip().encode()
        except (OSError, UnicodeDecodeError) as exc:
            raise ReceiverConfigError(
                f"cannot read [bot.alerts] {setting or path.name} {path}: "
                f"{getattr(exc, 'strerror', None) or exc}"
            ) from None
        if not value:
            raise ReceiverConfigError(f"[bot.alerts] {setting or path.name} {path} is empty")
        self._cache[path] = _Secret(path, mtime, value)
        return value

    def check(self, header: str) -> bool:
        """Whether the Authorization header carries the configured credentials."""
        if self.open_door:
            return True
        token = self.token
        if not token and self.token_file is not None:
            token = self._read(self.token_file, "credentials_file")
        if token:
            expected = b"Bearer " + token
            # surrogateescape: aiohttp keeps bytes that are not UTF-8 as surrogates, which a
            # plain encode() refuses (a 500 that skipped the failure count).
            return hmac.compare_digest(header.encode("utf-8", "surrogateescape"), expected)
        if self.username and (self.password_file is not None or self.password):
            scheme, _, encoded = header.partition(" ")
            if scheme.lower() != "basic":
                return False
            try:
                given = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            password = self.password
            if not password and self.password_file is not None:
                password = self._read(self.password_file, "password_file")
            return hmac.compare_digest(given, self.username.encode() + b":" + password)
        return False


class ReceiverMetrics(Protocol):
    """What the receiver counts (AlertMetrics on the bot's registry)."""

    def rejected(self, reason: str) -> None:
        """A request answered 4xx/5xx, by reason (auth, too_large, not_json, invalid, ...)."""
        ...


class AlertReceiver:
    """The webhook route: authenticate, bound, parse, store, answer."""

    def __init__(
        self,
        ingest: AlertIngest,
        auth: WebhookAuth,
        metrics: ReceiverMetrics,
        *,
        max_body_bytes: int = 1024 * 1024,
        auth_failures_per_minute: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ingest = ingest
        self.auth = auth
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self._failures = RateLimiter(
            {"auth": BucketRule(auth_failures_per_minute, 60.0)}, Backoff(after=10**9)
        )
        self._blocked: dict[str, float] = {}
        self._log_throttle = Throttle(60.0)

    def routes(self) -> list[web.RouteDef]:
        """The route to add to the web face."""
        return [web.post(PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        """One notification from Alertmanager."""
        if self.auth.problem:
            self._note("unconfigured", request, self.auth.problem)
            return _error(503, self.auth.problem)
        remote = request.remote or "?"
        now = self.clock()
        blocked = self._blocked.get(remote, 0.0)
        if now < blocked:
            self.metrics.rejected("auth_rate_limited")
            return _error(
                429,
                "too many failed authentications from this address; wait",
                {"Retry-After": str(max(1, int(blocked - now + 0.999)))},
            )
        try:
            ok = self.auth.check(request.headers.get("Authorization", ""))
        except ReceiverConfigError as exc:
            log.error("%s", exc)
            self.metrics.rejected("unconfigured")
            return _error(503, "the receiver cannot read its credentials; see the bot's log")
        if not ok:
            self.metrics.rejected("auth")
            verdict = self._failures.acquire(remote, "auth", now)
            if not verdict.allowed:
                self._blocked[remote] = now + verdict.retry_after
                if len(self._blocked) > 10_000:
                    self._blocked = {k: v for k, v in self._blocked.items() if v > now}
            # Never log what was presented: it may be a real secret sent to the wrong place.
            self._note("auth", request, "missing or wrong credentials")
            return _error(
                401, "missing or wrong credentials", {"WWW-Authenticate": 'Bearer realm="alerts"'}
            )
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            self.metrics.rejected("too_large")
            return _error(413, f"body over {self.max_body_bytes} bytes")
        # read(n) returns what has arrived so far, not n bytes: read until the end, so a body
        # that comes in several pieces is not cut short (and answered 400, never retried).
        chunks: list[bytes] = []
        size = 0
        while size <= self.max_body_bytes:
            chunk = await request.content.read(self.max_body_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        body = b"".join(chunks)
        if len(body) > self.max_body_bytes:
            self.metrics.rejected("too_large")
            return _error(413, f"body over {self.max_body_bytes} bytes")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            self.metrics.rejected("not_json")
            return _error(400, "the body is not JSON")
        try:
            notification = parse_notification(doc)
        except PayloadError as exc:
            self.metrics.rejected("invalid")
            return _error(422, str(exc), field=exc.field)
        except RecursionError:
            self.metrics.rejected("invalid")
            return _error(422, "the payload is nested too deeply")
        try:
            result = await self.ingest.accept(notification)
        except ServiceError as exc:
            log.error("could not store an Alertmanager notification: %s", exc)
            self.metrics.rejected("storage")
            return _error(503, "could not store the alerts; Alertmanager will retry")
        return web.json_response(
            {"status": "stored", "stored": result.stored, "duplicates": result.duplicates}
        )

    def _note(self, kind: str, request: web.Request, what: str) -> None:
        held = self._log_throttle.allow(kind)
        if held is not None:
            log.warning(
                "alert webhook from %s refused (%s): %s%s",
                request.remote, kind, what, self._log_throttle.note(held),
            )  # fmt: skip


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, field: str = ""
) -> web.Response:
    body: dict[str, str] = {"status": "error", "error": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status, headers=headers)
