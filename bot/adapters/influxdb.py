"""An async InfluxQL client of InfluxDB's `/query` API, as a chart source for long ranges.

One endpoint serves every InfluxDB: `/query` is the 1.x API, and the v1 compatibility API of
2.x (the database and retention policy map to a bucket through a DBRP mapping) and of 3.x.
It sends GET (3.x's v1 API takes only GET for queries) with `db`, `rp`, `q` and `epoch=s`,
and authenticates with a token (`Authorization: Token ...`) or a username and password
(basic). Every failure is MetricsUnavailable naming InfluxDB and the setting to fix.

Example::

    async with InfluxDBClient("http://127.0.0.1:8086", database="telegraf") as influx:
        series = await influx.query_range(
            InfluxQuery('SELECT mean("load1") FROM "system" WHERE "host" =~ /^$host$/ '
                        "AND $timeFilter"),
            time.time() - 86400, time.time(), 120, host="nas",
        )
"""

from __future__ import annotations

import base64
import json
import logging
import math
from array import array
from typing import Any

import aiohttp

from bot.adapters.http import SessionClient
from bot.adapters.prometheus import credential_forms
from bot.domain.charts import InfluxQuery, Points, Series
from bot.domain.ranges import influxql
from bot.services.ports import MetricsUnavailable
from homelab.logs import redact, redaction_filter

log = logging.getLogger(__name__)

SETTINGS = "[bot.influxdb]"


class InfluxDBClient(SessionClient):
    """InfluxQL range queries over aiohttp; it implements the `InfluxRangeSource` port."""

    def __init__(
        self,
        url: str,
        database: str = "telegraf",
        retention_policy: str = "",
        timeout: float = 2.5,
        token: str = "",
        username: str = "",
        password: str = "",
    ) -> None:
        if token and username:
            raise ValueError(f"{SETTINGS}: set token or username/password, not both")
        self.url = url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        super().__init__(timeout, {"Accept": "application/json"})
        self._secrets = [s for s in (token, password) if s]
        if token:
            self._headers["Authorization"] = f"Token {token}"
        elif username:
            pair = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {pair}"
            if password:
                self._secrets += credential_forms(username, password)
        for secret in self._secrets:
            redaction_filter().add_secret(secret)

    @property
    def source(self) -> str:
        """Where InfluxDB is and which database, safe to show."""
        return f"InfluxDB at {self.url} (database {self.database})"


    async def query_range(
        self, query: InfluxQuery, start: float, end: float, step: float, host: str = ""
    ) -> list[Series]:
        """`query` over [start, end] in `step`-second buckets; one Series per tag set and field.

        Labels are the series' tags, plus `field` (the column) when the SELECT has several.
        """
        if end < start or step <= 0:
            raise ValueError(f"range query needs start <= end, step > 0: {start}, {end}, {step}")
        q = influxql(query, start, end, step, host)
        return await self.select(q)

    async def select(self, q: str) -> list[Series]:
        """Run one InfluxQL SELECT whose first column is time; its series as Series."""
        log.debug("influxql %s", q)
        params = {"db": self.database, "q": q, "epoch": "s"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        status, text = await self._get("/query", params)
        return _parse(self.source, self.database, status, text, self._secrets)

    async def _get(self, path: str, params: dict[str, str]) -> tuple[int, str]:
        try:
            async with self._client().get(f"{self.url}{path}", params=params) as resp:
                text = await resp.text()
                status = resp.status
        except TimeoutError:
            raise MetricsUnavailable(
                self.source,
                f"no answer within {self.timeout:g} s; check that InfluxDB is up, or raise "
                f"{SETTINGS} timeout_seconds",
            ) from None
        except aiohttp.ClientConnectorError as exc:
            why = (
                "connection refused"
                if isinstance(exc.os_error, ConnectionRefusedError)
                else (exc.os_error.strerror or type(exc.os_error).__name__)
            )
            raise MetricsUnavailable(
                self.source, f"cannot connect ({why}); check {SETTINGS} url and that InfluxDB runs"
            ) from None
        except aiohttp.ClientError as exc:
            raise MetricsUnavailable(
                self.source, f"request failed ({type(exc).__name__}); check {SETTINGS} url"
            ) from None
        return status, text  # redacted where it can reach a user (errors, tags): it is cheaper


def _error_text(doc: Any, secrets: list[str]) -> str:
    """The error message of any InfluxDB error body: 1.x `error`, 2.x `message`, 3.x `error`."""
    if isinstance(doc, dict):
        for key in ("error", "message"):
            if doc.get(key):
                return redact(str(doc[key]), secrets)[:200]
    return ""


def _refusal(database: str, status: int, detail: str) -> str:
    low = detail.lower()
    if status in (401, 403):
        return (
            f"HTTP {status} {detail}".strip()
            + f": check {SETTINGS} token (2.x, 3.x) or username/password (1.x)"
        )
    if "dbrp" in low:
        return (
            f"HTTP {status} {detail}: InfluxDB 2.x maps database {database!r} to a bucket only "
            f"through a DBRP mapping; create one (`influx v1 dbrp create --db {database} "
            "--rp autogen --bucket-id ID --default`) or fix {SETTINGS} database"
        )
    if "database not found" in low or (status == 404 and "database" in low):
        return (
            f"{detail}: check {SETTINGS} database (the exporter writes to [exporter.influx] "
            "database)"
        )
    if status == 404:
        return (
            f"HTTP 404 {detail}".strip()
            + f": this server has no /query API; check {SETTINGS} url (InfluxDB 1.x, 2.x or 3.x)"
        )
    return f"HTTP {status} {detail}".strip()


def _parse(source: str, database: str, status: int, text: str, secrets: list[str]) -> list[Series]:
    try:
        doc: Any = json.loads(text) if text.strip() else {}
    except ValueError:
        if status == 200:
            raise MetricsUnavailable(
                source, f"HTTP 200 with a body that is not JSON; check {SETTINGS} url"
            ) from None
        raise MetricsUnavailable(source, _refusal(database, status, "")) from None
    if status != 200:
        raise MetricsUnavailable(source, _refusal(database, status, _error_text(doc, secrets)))
    if not isinstance(doc, dict) or "error" in doc:
        raise MetricsUnavailable(source, _refusal(database, status, _error_text(doc, secrets)))
    out: list[Series] = []
    for result in doc.get("results", ()):
        if "error" in result:
            detail = redact(str(result["error"]), secrets)[:200]
            raise MetricsUnavailable(source, _refusal(database, 400, detail))
        for s in result.get("series", ()):
            out += _series(s, secrets)
    return out


def _series(s: dict[str, Any], secrets: list[str]) -> list[Series]:
    columns: list[str] = list(s.get("columns", ()))
    tags = {str(k): redact(str(v), secrets) for k, v in (s.get("tags") or {}).items()}
    fields = columns[1:]
    out = []
    for i, field in enumerate(fields, start=1):
        flat = array("d")  # packed as parsed (bot.domain.charts.Points)
        for row in s.get("values", ()):
            value = row[i] if i < len(row) else None
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue  # null (no data in the bucket) or a string field
            if math.isfinite(value):
                flat.append(float(row[0]))
                flat.append(float(value))
        labels = dict(tags)
        if len(fields) > 1:
            labels["field"] = field
        out.append(Series(labels, Points(flat)))
    return out
