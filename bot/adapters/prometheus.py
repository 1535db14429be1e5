"""An async client of the Prometheus HTTP API (`/api/v1/query` and `/api/v1/query_range`).

It uses nothing beyond the standard API, so it works against Prometheus, Thanos, Mimir and
VictoriaMetrics; it sends bearer or basic auth and extra headers such as `X-Scope-OrgID`.

Example::

    async with PrometheusClient("http://127.0.0.1:9090", timeout=2.5) as prom:
        samples = await prom.query("up")
        series = await prom.query_range("up", time.time() - 3600, time.time(), 60)
"""

from __future__ import annotations

import base64
import json
import logging
import math
from array import array
from itertools import chain
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

import aiohttp

from bot.adapters.http import SessionClient, without_userinfo
from bot.domain.charts import Series, finite_points
from bot.services.ports import MetricsUnavailable, Sample
from homelab.logs import redact, redaction_filter

log = logging.getLogger(__name__)

# Prometheus refuses a range query of more points per series than this (bad_data).
MAX_POINTS = 11_000


class PrometheusClient(SessionClient):
    """Instant and range queries over aiohttp; every failure becomes MetricsUnavailable.

    It implements the `MetricsSource` and `RangeSource` ports.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 2.5,
        bearer_token: str = "",
        username: str = "",
        password: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        if bearer_token and username:
            raise ValueError("[bot.prometheus]: set bearer_token or username/password, not both")
        parts = urlsplit(url)
        if parts.username is not None and not username and not bearer_token:
            # user:password@ in the URL is basic auth; it goes in a header, never in messages.
            username, password = unquote(parts.username), unquote(parts.password or "")
        super().__init__(timeout, headers)
        self.url = without_userinfo(url).rstrip("/")
        # Servers may echo credentials in error bodies, raw or encoded; those reach users.
        self._secrets = [s for s in (bearer_token, password) if s]
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        if username:
            pair = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {pair}"
            if password:
                self._secrets += credential_forms(username, password)
        for secret in self._secrets:
            redaction_filter().add_secret(secret)  # and the logs hide every form too

    @property
    def source(self) -> str:
        """The base URL, safe to show: credentials never stay in it."""
        return self.url


    async def query(self, expr: str) -> list[Sample]:
        """Evaluate an instant query; vectors and scalars become samples."""
        log.debug("query %s", expr)
        status, text = await self._post("/api/v1/query", {"query": expr})
        return _parse(self.source, status, text, self._secrets)

    async def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """Evaluate `expr` over [start, end] every `step` s; NaN and Inf points are dropped.

        A step so small that a series would pass Prometheus's 11,000 points is raised to fit.
        """
        if end < start or step <= 0:
            raise ValueError(f"range query needs start <= end, step > 0: {start}, {end}, {step}")
        step = fitting_step(start, end, step)
        log.debug("query_range %s [%s, %s] step %s", expr, start, end, step)
        status, text = await self._post(
            "/api/v1/query_range",
            {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:.3f}"},
        )
        return _parse_matrix(self.source, status, text, self._secrets)

    async def _post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        try:
            async with self._client().post(f"{self.url}{path}", data=form) as resp:
                text = await resp.text()
                status = resp.status
        except TimeoutError:
            raise MetricsUnavailable(
                self.source,
                f"no answer within {self.timeout:g} s; check that Prometheus is up, or raise "
                "[bot.prometheus] timeout_seconds",
            ) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                why = "connection refused: is Prometheus running? `make run` starts it"
            else:
                why = f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
            raise MetricsUnavailable(self.source, f"{why}; check [bot.prometheus] url") from None
        except aiohttp.ClientError as exc:
            raise MetricsUnavailable(
                self.source, f"request failed ({type(exc).__name__}); check [bot.prometheus] url"
            ) from None
        # Not redacted here: the patterns cost 25 ms on an 80 KB range result, on the event
        # loop. What can reach a user (error details, label values) is redacted when parsed.
        return status, text


def fitting_step(start: float, end: float, step: float) -> float:
    """`step`, raised (to whole milliseconds) so that [start, end] has at most MAX_POINTS."""
    # Prometheus refuses (end - start) / step > 11000 and steps under its 1 ms resolution.
    least = math.ceil((end - start) * 1000 / MAX_POINTS) / 1000
    return max(step, least, 0.001)


def credential_forms(username: str, password: str) -> list[str]:
    """The forms a basic-auth password travels in: base64 of `user:password`, URL-encoded."""
    pair = f"{username}:{password}"
    forms = [base64.b64encode(pair.encode()).decode()]
    for text in (pair, password):
        forms += [quote(text, safe=""), quote(text), quote_plus(text)]
    return sorted({f for f in forms if f != password}, key=len, reverse=True)


def _data(source: str, status: int, text: str, secrets: list[str]) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(text)
    except ValueError:
        if status in (401, 403):
            raise MetricsUnavailable(
                source, f"HTTP {status}: check [bot.prometheus] credentials"
            ) from None
        raise MetricsUnavailable(source, f"HTTP {status} with a body that is not JSON") from None
    if status != 200 or doc.get("status") != "success":
        detail = redact(str(doc.get("error", "")), secrets)[:200]
        hint = ": check [bot.prometheus] credentials" if status in (401, 403) else ""
        raise MetricsUnavailable(source, f"HTTP {status} {detail}{hint}".strip())
    data: dict[str, Any] = doc.get("data", {})
    return data


def _labels(metric: dict[str, str], secrets: list[str]) -> dict[str, str]:
    return {k: redact(v, secrets) for k, v in metric.items()}


def _parse(source: str, status: int, text: str, secrets: list[str]) -> list[Sample]:
    data = _data(source, status, text, secrets)
    kind = data.get("resultType")
    if kind == "vector":
        return [Sample(_labels(r["metric"], secrets), _num(r["value"][1])) for r in data["result"]]
    if kind == "scalar":
        value = _num(data["result"][1])
        return [] if math.isnan(value) else [Sample({}, value)]
    raise MetricsUnavailable(source, f"unexpected result type {redact(repr(kind), secrets)}")


def _parse_matrix(source: str, status: int, text: str, secrets: list[str]) -> list[Series]:
    data = _data(source, status, text, secrets)
    kind = data.get("resultType")
    if kind != "matrix":
        raise MetricsUnavailable(
            source, f"unexpected result type {redact(repr(kind), secrets)} for a range query"
        )
    # Packed as they are parsed: float() of each time and value string straight into one
    # array('d') per series, which the renderer and the chart pool take as it is.
    return [
        Series(_labels(r["metric"], secrets),
               finite_points(array("d", map(float, chain.from_iterable(r.get("values", ()))))))
        for r in data["result"]
    ]  # fmt: skip


def _num(s: str) -> float:
    return float(s)
