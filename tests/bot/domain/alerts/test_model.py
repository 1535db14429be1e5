"""Alertmanager's version-4 payload: strict where the bot depends on it, every error named."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.alerts.model import (
    AlertContext,
    PayloadError,
    alert_from_json,
    alert_to_json,
    context_from_json,
    context_to_json,
    expr_of,
    parse_notification,
)

PAYLOAD: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="HostHighCpu", instance="nas:9100"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "homelab-bot",
    "groupLabels": {"alertname": "HostHighCpu", "instance": "nas:9100"},
    "commonLabels": {"alertname": "HostHighCpu", "instance": "nas:9100", "severity": "warning"},
    "commonAnnotations": {"summary": "nas:9100: CPU 95% busy"},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HostHighCpu", "instance": "nas:9100", "severity": "warning"},
            "annotations": {"summary": "nas:9100: CPU 95% busy", "runbook_url": "http://x/rb"},
            "startsAt": "2026-12-03T10:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom:9090/graph?g0.expr=instance%3Anode_cpu_busy%3Aratio+%3E+0.9&g0.tab=1",
            "fingerprint": "c0ffee0123456789",
        }
    ],
}


def test_a_real_payload_parses() -> None:
    """Every field the bot uses comes through; endsAt's zero time means no end."""
    n = parse_notification(PAYLOAD)
    (a,) = n.alerts
    assert (n.receiver, n.status, n.external_url) == (
        "homelab-bot",
        "firing",
        "http://alertmanager:9093",
    )
    assert (a.name, a.host, a.severity, a.fingerprint) == (
        "HostHighCpu",
        "nas:9100",
        "warning",
        "c0ffee0123456789",
    )
    assert a.ends() is None and a.starts() == pytest.approx(1796292000.123457)
    assert expr_of(a.generator_url) == "instance:node_cpu_busy:ratio > 0.9"


def test_the_same_instant_spelled_twice_gives_one_dedupe_key() -> None:
    """Two cluster peers writing the same startsAt differently still deduplicate."""
    other = copy.deepcopy(PAYLOAD)
    other["alerts"][0]["startsAt"] = "2026-12-03T11:00:00.123456789+01:00"
    assert (
        parse_notification(other).alerts[0].dedupe_key
        == parse_notification(PAYLOAD).alerts[0].dedupe_key
    )
    resolved = copy.deepcopy(PAYLOAD)
    resolved["alerts"][0]["status"] = "resolved"
    assert (
        parse_notification(resolved).alerts[0].dedupe_key
        != parse_notification(PAYLOAD).alerts[0].dedupe_key
    )


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("version",), "3", "version"),
        (("alerts",), {}, "alerts"),
        (("truncatedAlerts",), -1, "truncatedAlerts"),
        (("alerts", 0, "fingerprint"), "../../x", "alerts[0].fingerprint"),
        (("alerts", 0, "fingerprint"), "a" * 65, "alerts[0].fingerprint"),
        (("alerts", 0, "status"), "pending", "alerts[0].status"),
        (("alerts", 0, "labels", "severity"), 3, "alerts[0].labels.severity"),
        (("alerts", 0, "startsAt"), "yesterday", "alerts[0].startsAt"),
        (("alerts", 0, "annotations"), ["x"], "alerts[0].annotations"),
        (("commonLabels",), "x", "commonLabels"),
    ],
)
def test_each_bad_field_is_named(path: tuple[Any, ...], value: Any, field: str) -> None:
    """A payload wrong in one place raises PayloadError naming exactly that field."""
    doc = copy.deepcopy(PAYLOAD)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(PayloadError) as err:
        parse_notification(doc)
    assert err.value.field == field and str(err.value).startswith(f"{field} ")


def test_missing_required_fields_are_named() -> None:
    """No fingerprint or no startsAt: named as missing."""
    for key in ("fingerprint", "startsAt", "status"):
        doc = copy.deepcopy(PAYLOAD)
        del doc["alerts"][0][key]
        with pytest.raises(PayloadError, match=f"alerts\\[0\\].{key} is missing"):
            parse_notification(doc)


def test_stored_alerts_and_contexts_round_trip() -> None:
    """What the outbox stores reads back equal."""
    a = parse_notification(PAYLOAD).alerts[0]
    assert alert_from_json(alert_to_json(a)) == a
    ctx = AlertContext("http://am:9093", "homelab-bot", "{}:{}")
    assert context_from_json(context_to_json(ctx)) == ctx
    assert context_from_json('{"externalURL": "u", "newField": 1}') == AlertContext("u")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_value_parses_or_raises_payload_error(doc: Any) -> None:
    """The receiver's 422 contract: nothing but PayloadError escapes, whatever the JSON."""
    with contextlib.suppress(PayloadError):
        parse_notification(doc)


def _mutations() -> st.SearchStrategy[Any]:
    def mutate(choice: tuple[int, Any]) -> Any:
        doc = json.loads(json.dumps(PAYLOAD))
        index, value = choice
        keys = ["version", "alerts", "status", "truncatedAlerts", "externalURL", "groupLabels"]
        alert_keys = ["status", "labels", "annotations", "startsAt", "endsAt", "fingerprint",
                      "generatorURL"]  # fmt: skip
        if index < len(keys):
            doc[keys[index]] = value
        else:
            doc["alerts"][0][alert_keys[index % len(alert_keys)]] = value
        return doc

    return st.tuples(st.integers(0, 20), JSON).map(mutate)


@settings(max_examples=300, deadline=None)
@given(_mutations())
def test_near_valid_payloads_parse_or_name_the_field(doc: Any) -> None:
    """One field of a real payload replaced by any JSON: parsed, or the error has a field."""
    try:
        parse_notification(doc)
    except PayloadError as exc:
        assert exc.field
