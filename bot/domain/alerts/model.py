"""Alertmanager's webhook payload (version 4), parsed strictly into frozen values.

Anything the bot depends on is checked, and a failure names the field (`alerts[3].fingerprint`)
so the receiver's 422 says what is wrong; unknown extra keys are ignored, as Alertmanager may
add some. A fingerprint goes into button custom ids, so it must be short and plain.

Example::

    n = parse_notification(json.loads(body))
    n.alerts[0].dedupe_key      # 'c0ffee0123456789|firing|2026-12-03T10:00:00.000000000Z'
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

FINGERPRINT_RE = re.compile(r"[0-9A-Za-z]{1,64}")
STATUSES = ("firing", "resolved")
# Alertmanager's "no end" (Go's zero time), and anything before 1971 is treated alike.
_ZERO_BEFORE = 365 * 86400.0
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?"
    r"(?P<tz>[Zz]|[+-]\d{2}:\d{2})"
)


class PayloadError(ValueError):
    """The body is JSON but not a version-4 Alertmanager notification; `field` names where."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def parse_time(text: str) -> float:
    """RFC 3339 (as Alertmanager writes it, nanoseconds allowed) -> Unix seconds."""
    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    tz = "+00:00" if m["tz"] in "Zz" else m["tz"]
    base = datetime.fromisoformat(f"{m['date']}T{m['time']}{tz}")
    frac = float(m["frac"]) if m["frac"] else 0.0
    return base.timestamp() + frac


def normal_time(text: str) -> str:
    """One spelling per instant (UTC, nanoseconds kept), so one time gives one dedupe key."""
    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    tz = "+00:00" if m["tz"] in "Zz" else m["tz"]
    t = datetime.fromisoformat(f"{m['date']}T{m['time']}{tz}").astimezone(UTC)
    nanos = (m["frac"] or ".")[1:10].ljust(9, "0")
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t:%H:%M:%S}.{nanos}Z"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a notification. Times are the RFC 3339 strings normalised to UTC."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str
    generator_url: str
    fingerprint: str

    @property
    def name(self) -> str:
        """The alert's name (label alertname)."""
        return self.labels.get("alertname", "") or "(unnamed alert)"

    @property
    def host(self) -> str:
        """Which host: label host, else instance, else job."""
        return self.labels.get("host") or self.labels.get("instance") or self.labels.get("job", "")

    @property
    def severity(self) -> str:
        """Label severity; warning when absent."""
        return self.labels.get("severity", "") or "warning"

    @property
    def firing(self) -> bool:
        """Whether the alert fires (rather than resolved)."""
        return self.status == "firing"

    def starts(self) -> float | None:
        """startsAt as Unix seconds (None for Alertmanager's zero time)."""
        return _unix(self.starts_at)

    def ends(self) -> float | None:
        """endsAt as Unix seconds (None for Alertmanager's zero time: no end yet)."""
        return _unix(self.ends_at)

    @property
    def dedupe_key(self) -> str:
        """fingerprint|status|startsAt: one row per state change of one firing episode."""
        return f"{self.fingerprint}|{self.status}|{self.starts_at}"


def _unix(text: str) -> float | None:
    if not text:
        return None
    seconds = parse_time(text)
    return None if seconds < _ZERO_BEFORE else seconds


@dataclass(frozen=True, slots=True)
class AlertContext:
    """What the notification said around an alert, kept beside it."""

    external_url: str = ""
    receiver: str = ""
    group_key: str = ""


@dataclass(frozen=True, slots=True)
class Notification:
    """A version-4 webhook payload."""

    receiver: str
    status: str
    group_key: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str
    truncated_alerts: int
    alerts: tuple[Alert, ...]

    def context(self) -> AlertContext:
        """What is kept beside each of its alerts."""
        return AlertContext(self.external_url, self.receiver, self.group_key)


def _str(doc: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = doc.get(key)
    if value is None:
        if required:
            raise PayloadError(f"{where}{key}", "missing")
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{where}{key}", f"must be a string, not {type(value).__name__}")
    return value


def _labels(doc: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    value = doc.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where}{key}", f"must be an object, not {type(value).__name__}")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(v, str):
            raise PayloadError(f"{where}{key}.{k}", f"must be a string, not {type(v).__name__}")
        out[str(k)] = v
    return out


def _time(doc: Mapping[str, Any], key: str, where: str, *, required: bool) -> str:
    text = _str(doc, key, where, required=required)
    if not text:
        return ""
    try:
        return normal_time(text)
    except (ValueError, OverflowError, OSError):
        raise PayloadError(f"{where}{key}", f"{text[:40]!r} is not an RFC 3339 time") from None


def parse_alert(doc: object, where: str = "") -> Alert:
    """One element of `alerts[]`."""
    if not isinstance(doc, dict):
        raise PayloadError(where.rstrip(".") or "alert", "must be an object")
    status = _str(doc, "status", where)
    if status not in STATUSES:
        raise PayloadError(f"{where}status", f"{status[:20]!r} is not firing or resolved")
    fingerprint = _str(doc, "fingerprint", where)
    if not FINGERPRINT_RE.fullmatch(fingerprint):
        raise PayloadError(f"{where}fingerprint", "must be 1 to 64 letters and digits")
    return Alert(
        status=status,
        labels=_labels(doc, "labels", where),
        annotations=_labels(doc, "annotations", where),
        starts_at=_time(doc, "startsAt", where, required=True),
        ends_at=_time(doc, "endsAt", where, required=False),
        generator_url=_str(doc, "generatorURL", where, required=False),
        fingerprint=fingerprint,
    )


def parse_notification(doc: object) -> Notification:
    """A decoded JSON body -> Notification, or PayloadError naming the first bad field."""
    if not isinstance(doc, dict):
        raise PayloadError("body", "must be a JSON object (Alertmanager's webhook payload)")
    version = doc.get("version")
    if version != "4":
        got = repr(version)[:40]
        raise PayloadError("version", f'must be "4" (Alertmanager\'s webhook payload), not {got}')
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts", "must be a list")
    truncated = doc.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise PayloadError("truncatedAlerts", "must be a whole number >= 0")
    status = _str(doc, "status", "", required=False) or "firing"
    if status not in STATUSES:
        raise PayloadError("status", f"{status[:20]!r} is not firing or resolved")
    return Notification(
        receiver=_str(doc, "receiver", "", required=False),
        status=status,
        group_key=_str(doc, "groupKey", "", required=False),
        group_labels=_labels(doc, "groupLabels", ""),
        common_labels=_labels(doc, "commonLabels", ""),
        common_annotations=_labels(doc, "commonAnnotations", ""),
        external_url=_str(doc, "externalURL", "", required=False),
        truncated_alerts=truncated,
        alerts=tuple(parse_alert(a, f"alerts[{i}].") for i, a in enumerate(alerts)),
    )


def alert_to_json(alert: Alert) -> str:
    """The alert as stored in the outbox."""
    return json.dumps(asdict(alert), sort_keys=True, separators=(",", ":"))


def alert_from_json(text: str) -> Alert:
    """An alert stored by `alert_to_json`."""
    return Alert(**json.loads(text))


def context_to_json(context: AlertContext) -> str:
    """The context as stored beside each alert."""
    return json.dumps(asdict(context), sort_keys=True, separators=(",", ":"))


def context_from_json(text: str) -> AlertContext:
    """A context stored by `context_to_json` (unknown keys from a newer bot ignored)."""
    doc = json.loads(text) if text else {}
    return AlertContext(**{k: str(v) for k, v in doc.items() if k in AlertContext.__slots__})


def _unquote_plus(text: str) -> str:
    """Form decoding (`+` is a space, `%XX` a byte), without urllib: the domain does no I/O."""
    raw = text.replace("+", " ").encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        if (
            raw[i] == 0x25
            and i + 2 < len(raw) + 0
            and re.fullmatch(rb"[0-9A-Fa-f]{2}", raw[i + 1 : i + 3])
        ):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")


def expr_of(generator_url: str) -> str | None:
    """The PromQL expression of Prometheus's generatorURL (`/graph?g0.expr=...`)."""
    query = generator_url.partition("?")[2].partition("#")[0]
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if _unquote_plus(key) == "g0.expr":
            expr = _unquote_plus(value)
            return expr if expr.strip() else None
    return None
