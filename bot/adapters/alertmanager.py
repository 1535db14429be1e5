"""An async client of Alertmanager's API v2: the alerts it holds and its silences.

Times cross the seam as Unix seconds; on the wire they are RFC 3339. Every failure (refused,
timeout, a body that is not JSON, a 5xx) becomes `AlertmanagerUnavailable` whose reason says
what to check; an id Alertmanager does not know is a `KeyError`.

Example::

    async with AlertmanagerClient("http://127.0.0.1:9093", timeout=2.5) as am:
        sid = await am.create_silence(
            [SilenceMatcher("alertname", "HostHighCpu")], time.time(), time.time() + 3600,
            "ann", "maintenance",
        )
        await am.expire_silence(sid)
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from bot.adapters.http import SessionClient, without_userinfo
from bot.services.ports import ActiveAlert, AlertmanagerUnavailable, Silence, SilenceMatcher
from homelab.logs import redact, redaction_filter

log = logging.getLogger(__name__)

_URL_HINT = "check [bot.alerts] alertmanager_url"


class AlertmanagerClient(SessionClient):
    """Alertmanager API v2 over aiohttp; implements `AlertmanagerApi`."""

    def __init__(self, url: str, timeout: float = 2.5) -> None:
        super().__init__(timeout)
        parts = urlsplit(url)
        self._secrets: list[str] = []
        if parts.username is not None:
            # user:password@ in the URL (a proxy in front) is basic auth, never shown.
            user, password = unquote(parts.username), unquote(parts.password or "")
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {pair}"
            self._secrets = [s for s in (password, pair) if s]
            for secret in self._secrets:
                redaction_filter().add_secret(secret)
        self.url = without_userinfo(url, keep_query=False).rstrip("/")

    @property
    def source(self) -> str:
        """The base URL, safe to show: credentials never stay in it."""
        return self.url


    async def alerts(self) -> list[ActiveAlert]:
        """Every alert Alertmanager holds (active, silenced and inhibited)."""
        status, doc = await self._call("GET", "alerts")
        self._check(status, doc)
        return [_alert(self.source, a) for a in _list(self.source, doc)]

    async def silences(self) -> list[Silence]:
        """Every silence, expired ones included."""
        status, doc = await self._call("GET", "silences")
        self._check(status, doc)
        return [_silence(self.source, s) for s in _list(self.source, doc)]

    async def create_silence(
        self,
        matchers: Sequence[SilenceMatcher],
        starts_at: float,
        ends_at: float,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence; return its id. ValueError for a silence Alertmanager would refuse."""
        if ends_at <= starts_at:
            raise ValueError("a silence must end after it starts")
        if not matchers:
            raise ValueError("a silence needs at least one matcher")
        body = {
            "matchers": [
                {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                for m in matchers
            ],
            "startsAt": to_rfc3339(starts_at),
            "endsAt": to_rfc3339(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        status, doc = await self._call("POST", "silences", body)
        if status == 400:
            # Input it can never accept (a regex that does not compile, say): not an outage.
            raise ValueError(f"Alertmanager refused the silence: {_detail(doc)}")
        self._check(status, doc)
        if not isinstance(doc, dict) or not isinstance(doc.get("silenceID"), str):
            raise AlertmanagerUnavailable(
                self.source, f"the answer has no silenceID: is it Alertmanager? {_URL_HINT}"
            )
        log.info("silence %s created by %s", doc["silenceID"], created_by)
        return str(doc["silenceID"])

    async def expire_silence(self, silence_id: str) -> None:
        """Expire one silence now; raise KeyError when Alertmanager does not know it."""
        status, doc = await self._call("DELETE", f"silence/{silence_id}")
        detail = _detail(doc)
        # 0.25 answers an unknown id with 500 "silence not found", later ones with 404; an id
        # that is not a UUID gets 422: Alertmanager cannot know it either.
        if status in (404, 422) or (status == 500 and "not found" in detail):
            raise KeyError(silence_id)
        if status == 500 and "already expired" in detail:
            return  # newer releases refuse to expire twice; the silence is expired either way
        self._check(status, doc)
        log.info("silence %s expired", silence_id)

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"{self.url}/api/v2/{path}"
        log.debug("%s %s", method, url)
        try:
            async with self._client().request(method, url, json=body) as resp:
                text = await resp.text()
                status = resp.status
        except TimeoutError:
            raise AlertmanagerUnavailable(
                self.source,
                f"no answer within {self.timeout:g} s: is Alertmanager up and reachable? "
                f"{_URL_HINT} and [bot.alerts] alertmanager_timeout_seconds",
            ) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                why = "connection refused: is Alertmanager running? `make run` starts it;"
            else:
                err = exc.os_error.strerror or type(exc.os_error).__name__
                why = f"cannot connect ({err}):"
            raise AlertmanagerUnavailable(self.source, f"{why} {_URL_HINT}") from None
        except aiohttp.ClientError as exc:
            raise AlertmanagerUnavailable(
                self.source, f"request failed ({type(exc).__name__}): {_URL_HINT}"
            ) from None
        text = redact(text, self._secrets)
        if not text.strip() and status < 300:
            return status, None  # DELETE answers 200 with an empty body
        try:
            return status, json.loads(text)
        except ValueError:
            hint = _URL_HINT
            if status in (401, 403):
                hint = "check the credentials in [bot.alerts] alertmanager_url"
            raise AlertmanagerUnavailable(
                self.source,
                f"HTTP {status} with a body that is not JSON: is it Alertmanager's API v2? {hint}",
            ) from None

    def _check(self, status: int, doc: Any) -> None:
        if 200 <= status < 300:
            return
        detail = _detail(doc)
        if status >= 500:
            hint = "Alertmanager failed; its log says why"
        elif status in (401, 403):
            hint = "check the credentials in [bot.alerts] alertmanager_url"
        elif status == 404:
            hint = f"is it Alertmanager with API v2? {_URL_HINT}"
        else:
            hint = "Alertmanager refused the request"
        raise AlertmanagerUnavailable(self.source, f"HTTP {status} {detail}: {hint}".strip())


def to_rfc3339(t: float) -> str:
    """Unix seconds as RFC 3339 in UTC with milliseconds, e.g. 2026-12-03T12:00:00.000Z."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def from_rfc3339(s: str) -> float:
    """RFC 3339 (any fraction digits, Z or an offset) as Unix seconds."""
    return datetime.fromisoformat(s).timestamp()


def _detail(doc: Any) -> str:
    if isinstance(doc, dict):
        return str(doc.get("message") or doc.get("error") or "")[:200]
    return "" if doc is None else str(doc)[:200]


def _malformed(what: str, exc: Exception) -> str:
    return (
        f"{what} it sent is malformed ({type(exc).__name__}: {exc}): "
        f"is it Alertmanager's API v2? {_URL_HINT}"
    )


def _list(source: str, doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, list):
        raise AlertmanagerUnavailable(
            source, f"expected a JSON list: is it Alertmanager's API v2? {_URL_HINT}"
        )
    return doc


def _alert(source: str, a: dict[str, Any]) -> ActiveAlert:
    try:
        status = a.get("status") or {}
        return ActiveAlert(
            fingerprint=str(a["fingerprint"]),
            labels=dict(a.get("labels") or {}),
            annotations=dict(a.get("annotations") or {}),
            starts_at=from_rfc3339(a["startsAt"]),
            state=str(status.get("state", "")),
            silenced_by=tuple(status.get("silencedBy") or ()),
            inhibited_by=tuple(status.get("inhibitedBy") or ()),
            generator_url=str(a.get("generatorURL") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AlertmanagerUnavailable(source, _malformed("an alert", exc)) from None


def _silence(source: str, s: dict[str, Any]) -> Silence:
    try:
        return Silence(
            id=str(s["id"]),
            matchers=tuple(
                SilenceMatcher(
                    name=str(m["name"]),
                    value=str(m["value"]),
                    is_regex=bool(m.get("isRegex", False)),
                    is_equal=bool(m.get("isEqual", True)),
                )
                for m in s.get("matchers") or ()
            ),
            starts_at=from_rfc3339(s["startsAt"]),
            ends_at=from_rfc3339(s["endsAt"]),
            created_by=str(s.get("createdBy", "")),
            comment=str(s.get("comment", "")),
            state=str((s.get("status") or {}).get("state", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AlertmanagerUnavailable(source, _malformed("a silence", exc)) from None
