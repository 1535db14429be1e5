"""Alertmanager's webhook payload (version "4") as frozen values, validated strictly.

`parse_notification` is the receiver's only way in: anything it does not raise `PayloadError`
for is a notification the bot can store, route and show. The error names the field
(`alerts[3].labels.severity`) and what is wrong in one sentence, which becomes the 422 body:
Alertmanager never retries a 4xx, so only input that can never succeed is refused.

Example::

    n = parse_notification(json.loads(body))
    a = n.alerts[0]
    a.name, a.host, a.severity          # ('HostHighCpu', 'nas:9100', 'warning')
    a.starts()                          # 1764763200.0
    a.dedupe_key                        # '3f1c0e2a9b8d7c6e:firing:2025-12-03T12:00:00Z'
    alert_from_json(alert_to_json(a)) == a
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

log = logging.getLogger(__name__)

Status = Literal["firing", "resolved"]
STATUSES: tuple[Status, ...] = ("firing", "resolved")

# Go's zero time.Time, which Alertmanager sends as endsAt of an alert that has not ended.
ZERO_TIME = "0001-01-01T00:00:00Z"

# Alerts that fire all the time on purpose: the dead man's switch's heartbeat (rules/alerts.yml).
# Dashboards and /status never count them as something wrong.
HEARTBEAT_ALERTS = frozenset({"Watchdog"})


def is_heartbeat(labels: Mapping[str, str]) -> bool:
    """Whether an alert with these labels is the always-firing heartbeat."""
    return labels.get("alertname", "") in HEARTBEAT_ALERTS


# The fingerprint goes into button custom ids (100 characters in all), so it is kept short and
# plain. Alertmanager's are 16 hex digits.
FINGERPRINT_RE = re.compile(r"[0-9a-zA-Z]{1,64}")

_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PayloadError(ValueError):
    """A payload that can never be accepted; `field` is the path of what is wrong.

    `str()` is one sentence naming the field and the problem (the receiver's 422 body).
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field} {problem}.")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a notification, as Alertmanager sent it.

    `starts_at` and `ends_at` are the RFC3339 strings from the payload, kept as sent; use
    `starts()` and `ends()` for times. `labels` and `annotations` are not to be mutated.
    """

    status: Status
    labels: Mapping[str, str] = field(hash=False)
    annotations: Mapping[str, str] = field(hash=False)
    starts_at: str
    ends_at: str
    generator_url: str
    fingerprint: str

    @property
    def name(self) -> str:
        """The alertname label ("" when the alert has none)."""
        return self.labels.get("alertname", "")

    @property
    def host(self) -> str:
        """The host label, else the instance label, else ""."""
        return self.labels.get("host") or self.labels.get("instance", "")

    @property
    def severity(self) -> str:
        """The severity label; "warning" when it is missing or empty."""
        return self.labels.get("severity") or "warning"

    @property
    def firing(self) -> bool:
        """Whether the alert is firing (not resolved)."""
        return self.status == "firing"

    def starts(self) -> float | None:
        """When the alert started, as a Unix time; None for Go's zero time."""
        return unix_time(self.starts_at)

    def ends(self) -> float | None:
        """When the alert ended (or will time out), as a Unix time; None for Go's zero time."""
        return unix_time(self.ends_at)

    @property
    def starts_at_utc(self) -> str:
        """startsAt in one spelling per instant: with the fingerprint, the firing episode."""
        return normalise_time(self.starts_at)

    @property
    def dedupe_key(self) -> str:
        """fingerprint:status:startsAt, the instant normalised to UTC.

        A two-node Alertmanager cluster may deliver one notification twice; the fingerprint
        alone is the same for every firing episode, so status and start time are part of it.
        """
        return f"{self.fingerprint}:{self.status}:{self.starts_at_utc}"


@dataclass(frozen=True, slots=True)
class AlertContext:
    """Where an alert came from, stored beside it: for links and for answering clicks."""

    external_url: str = ""
    receiver: str = ""
    group_key: str = ""


@dataclass(frozen=True, slots=True)
class Notification:
    """One webhook call of Alertmanager: a group of alerts and what they have in common."""

    receiver: str
    status: Status
    group_key: str
    group_labels: Mapping[str, str] = field(hash=False)
    common_labels: Mapping[str, str] = field(hash=False)
    common_annotations: Mapping[str, str] = field(hash=False)
    external_url: str
    truncated_alerts: int
    alerts: tuple[Alert, ...]

    @property
    def context(self) -> AlertContext:
        """The context every alert of this notification is stored with."""
        return AlertContext(self.external_url, self.receiver, self.group_key)


# -- times ----------------------------------------------------------------------------------


def _parse_time(text: str) -> tuple[datetime, int] | None:
    """(the instant in UTC to the microsecond, its nanoseconds), or None if not RFC3339."""
    m = _RFC3339_RE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
    # Go reads any number of fraction digits; beyond nanoseconds they are dropped, as there.
    nanos = int((m[7] or "")[:9].ljust(9, "0"))
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        if m[9]:
            hours, minutes = int(m[10]), int(m[11])
            if hours > 23 or minutes > 59:
                return None
            offset = timedelta(hours=hours, minutes=minutes)
            local = local - offset if m[9] == "+" else local + offset
    except (ValueError, OverflowError):
        return None
    return local, nanos


def is_time(text: str) -> bool:
    """Whether `text` is an RFC3339 time Python can represent (years 1 to 9999 in UTC)."""
    return _parse_time(text) is not None


def normalise_time(text: str) -> str:
    """An RFC3339 time in one spelling per instant: UTC, `Z`, no trailing zero fraction.

    Text that is not RFC3339 is returned unchanged (parse_notification refuses it first).
    """
    parsed = _parse_time(text)
    if parsed is None:
        return text
    instant, nanos = parsed
    i = instant
    out = f"{i.year:04d}-{i.month:02d}-{i.day:02d}T{i.hour:02d}:{i.minute:02d}:{i.second:02d}"
    if nanos:
        out += "." + f"{nanos:09d}".rstrip("0")
    return out + "Z"


def unix_time(text: str) -> float | None:
    """An RFC3339 time as Unix seconds; None for Go's zero time or text that is not a time."""
    parsed = _parse_time(text)
    if parsed is None:
        return None
    instant, nanos = parsed
    if instant == datetime(1, 1, 1, tzinfo=UTC) and nanos == 0:
        return None
    return instant.timestamp() + nanos / 1e9


# -- parsing --------------------------------------------------------------------------------


def _key_path(base: str, key: str) -> str:
    if _NAME_RE.fullmatch(key):
        return f"{base}.{key}"
    shown = key if len(key) <= 40 else key[:40] + "..."
    return f"{base}[{json.dumps(shown)}]"


def _shown(value: object) -> str:
    """A short description of a wrong value for an error sentence."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:40] + "..."
        return json.dumps(text)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _object(value: object, path: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise PayloadError(path, f"must be an object, not {_shown(value)}")
    return value


def _string(doc: dict[Any, Any], key: str, path: str, *, required: bool = True) -> str:
    where = _key_path(path, key) if path else key
    if key not in doc:
        if required:
            raise PayloadError(where, "is missing")
        return ""
    value = doc[key]
    if not isinstance(value, str):
        raise PayloadError(where, f"must be a string, not {_shown(value)}")
    return _unicode(value, where)


def _unicode(value: str, where: str) -> str:
    """`value`, if it is text that can be stored (JSON allows lone surrogates; UTF-8 not)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise PayloadError(where, "is not valid Unicode text (a lone surrogate)") from None
    return value


def _status(doc: dict[Any, Any], path: str) -> Status:
    value = _string(doc, "status", path)
    if value == "firing":
        return "firing"
    if value == "resolved":
        return "resolved"
    where = _key_path(path, "status") if path else "status"
    raise PayloadError(where, f'must be "firing" or "resolved", not {_shown(value)}')


def _string_map(doc: dict[Any, Any], key: str, path: str, *, required: bool) -> dict[str, str]:
    where = _key_path(path, key) if path else key
    if key not in doc:
        if required:
            raise PayloadError(where, "is missing")
        return {}
    value = doc[key]
    if value is None and not required:
        return {}
    mapping = _object(value, where)
    out: dict[str, str] = {}
    for k, v in mapping.items():
        if not isinstance(k, str):
            raise PayloadError(where, f"has a key that is {_shown(k)}, not a string")
        if not isinstance(v, str):
            raise PayloadError(_key_path(where, k), f"must be a string, not {_shown(v)}")
        _unicode(k, where)
        out[k] = _unicode(v, _key_path(where, k))
    return out


def _time(doc: dict[Any, Any], key: str, path: str, *, required: bool) -> str:
    where = _key_path(path, key)
    if key not in doc and not required:
        return ZERO_TIME
    value = _string(doc, key, path)
    if not is_time(value):
        raise PayloadError(
            where, f"must be an RFC3339 time such as 2025-12-03T12:00:00Z, not {_shown(value)}"
        )
    return value


def parse_alert(doc: object, path: str = "alert") -> Alert:
    """One alert object of a payload (Alertmanager's key names), validated."""
    obj = _object(doc, path)
    fingerprint = _string(obj, "fingerprint", path)
    if not FINGERPRINT_RE.fullmatch(fingerprint):
        raise PayloadError(
            _key_path(path, "fingerprint"),
            f"must be 1 to 64 letters and digits, not {_shown(fingerprint)}",
        )
    return Alert(
        status=_status(obj, path),
        labels=_string_map(obj, "labels", path, required=True),
        annotations=_string_map(obj, "annotations", path, required=False),
        starts_at=_time(obj, "startsAt", path, required=True),
        ends_at=_time(obj, "endsAt", path, required=False),
        generator_url=_string(obj, "generatorURL", path, required=False),
        fingerprint=fingerprint,
    )


def parse_notification(doc: object) -> Notification:
    """A decoded webhook body -> Notification; anything else raises PayloadError.

    Unknown keys are ignored (Alertmanager may add some); the fields the bot relies on are
    checked: version "4", statuses, string-to-string labels and annotations, RFC3339 times,
    fingerprints that fit a button's custom id.
    """
    obj = _object(doc, "payload")
    version = _string(obj, "version", "")
    if version != "4":
        raise PayloadError(
            "version", f'must be "4" (Alertmanager\'s webhook), not {_shown(version)}'
        )
    truncated = obj.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise PayloadError(
            "truncatedAlerts", f"must be a whole number >= 0, not {_shown(truncated)}"
        )
    raw_alerts = obj.get("alerts")
    if "alerts" not in obj:
        raise PayloadError("alerts", "is missing")
    if not isinstance(raw_alerts, list):
        raise PayloadError("alerts", f"must be a list, not {_shown(raw_alerts)}")
    return Notification(
        receiver=_string(obj, "receiver", ""),
        status=_status(obj, ""),
        group_key=_string(obj, "groupKey", ""),
        group_labels=_string_map(obj, "groupLabels", "", required=False),
        common_labels=_string_map(obj, "commonLabels", "", required=False),
        common_annotations=_string_map(obj, "commonAnnotations", "", required=False),
        external_url=_string(obj, "externalURL", "", required=False),
        truncated_alerts=truncated,
        alerts=tuple(parse_alert(a, f"alerts[{i}]") for i, a in enumerate(raw_alerts)),
    )


# -- storage --------------------------------------------------------------------------------


def alert_to_doc(alert: Alert) -> dict[str, Any]:
    """An alert as Alertmanager writes it (so the stored form is the wire form)."""
    return {
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": alert.starts_at,
        "endsAt": alert.ends_at,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def alert_to_json(alert: Alert) -> str:
    """An alert as JSON text, in Alertmanager's own key names."""
    return json.dumps(alert_to_doc(alert), ensure_ascii=False, sort_keys=True)


def alert_from_json(text: str) -> Alert:
    """The alert `alert_to_json` wrote; PayloadError when the text is not one."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise PayloadError("alert", "is not valid JSON") from None
    return parse_alert(doc)


def context_to_json(ctx: AlertContext) -> str:
    """An alert's context as JSON text (Alertmanager's key names)."""
    return json.dumps(
        {"externalURL": ctx.external_url, "receiver": ctx.receiver, "groupKey": ctx.group_key},
        ensure_ascii=False,
        sort_keys=True,
    )


def context_from_json(text: str) -> AlertContext:
    """The context `context_to_json` wrote; PayloadError when the text is not one."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise PayloadError("context", "is not valid JSON") from None
    obj = _object(doc, "context")
    return AlertContext(
        external_url=_string(obj, "externalURL", "context", required=False),
        receiver=_string(obj, "receiver", "context", required=False),
        group_key=_string(obj, "groupKey", "context", required=False),
    )


# -- generator URLs -------------------------------------------------------------------------


def _unquote_plus(text: str) -> str:
    """Form-encoded text decoded (urllib is outside the domain's imports)."""
    parts = text.replace("+", " ").split("%")
    out = bytearray(parts[0].encode())
    for part in parts[1:]:
        head = part[:2]
        if len(head) == 2 and all(c in "0123456789abcdefABCDEF" for c in head):
            out.append(int(head, 16))
            out += part[2:].encode()
        else:
            out += b"%" + part.encode()
    return out.decode("utf-8", "replace")


def expr_of(generator_url: str) -> str | None:
    """The PromQL expression (`g0.expr`) of a Prometheus generator URL, or None."""
    _, sep, query = generator_url.partition("?")
    if not sep:
        return None
    query = query.split("#", 1)[0]
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if _unquote_plus(key) == "g0.expr":
            expr = _unquote_plus(value)
            return expr if expr.strip() else None
    return None
