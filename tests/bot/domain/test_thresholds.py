"""Thresholds as data: the domain's list agrees with rules/alerts.yml, values are checked
against each alert's range, and a host resolves to the instance the rules match."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.domain.alerts.thresholds import (
    FLEET,
    THRESHOLD_ALERTS,
    Threshold,
    ThresholdError,
    UnknownHost,
    check,
    cleared_message,
    find_alert,
    list_message,
    resolve_instance,
    set_message,
)
from bot.domain.messages import split, validate
from bot.domain.text import plain
from exporter.schema import ALERT_THRESHOLD

ROOT = Path(__file__).resolve().parents[3]
ALIASES = {"nas": "192.168.1.5:9101", "Pi": "pi.lan:9100"}


def rules_reading_thresholds() -> dict[str, float]:
    """Alert name -> threshold_default of every rule in rules/alerts.yml that reads thresholds."""
    doc = yaml.safe_load((ROOT / "rules" / "alerts.yml").read_text())
    return {
        rule["alert"]: float(rule["labels"]["threshold_default"])
        for group in doc["groups"]
        for rule in group["rules"]
        if "alert" in rule and ALERT_THRESHOLD in rule["expr"]
    }


def test_the_list_is_the_rules_list_with_the_same_defaults() -> None:
    """Exactly the alerts whose expression reads homelab_alert_threshold, each default equal."""
    rules = rules_reading_thresholds()
    assert len(rules) >= 10
    assert {a.name: a.default for a in THRESHOLD_ALERTS} == rules


def test_alerting_doc_shows_each_alerts_unit_and_range() -> None:
    """docs/alerting.md's table of threshold alerts has the domain's unit and range per alert."""
    doc = (ROOT / "docs" / "alerting.md").read_text()
    for alert in THRESHOLD_ALERTS:
        row = re.search(rf"^\| `{alert.name}` \| [^|]+ \| ([^|]+) \| ([^|]+) \| `", doc, re.M)
        assert row, f"docs/alerting.md has no row for {alert.name}"
        assert (row.group(1), row.group(2)) == (alert.unit, alert.range_text()), alert.name


def test_every_default_is_within_its_own_range() -> None:
    """A built-in default is always a value one could set."""
    for alert in THRESHOLD_ALERTS:
        assert alert.allows(alert.default), alert.name


@pytest.mark.parametrize(
    ("alert", "value"),
    [
        ("HostHighCpu", 0.0),
        ("HostHighCpu", 1.0),
        ("hosthighcpu", 0.8),
        ("HostHighTemperature", -50.0),
        ("HostHighTemperature", 150.0),
        ("HostClockSkew", 0.05),
        ("HostNetworkErrors", 0.0),
        ("ExporterInfluxSpoolFilling", 0.95),
    ],
)
def test_values_within_range_are_accepted(alert: str, value: float) -> None:
    """Ratios 0..1 inclusive, temperatures -50..150 °C, seconds above 0; any case of name."""
    assert check(alert, value).name.casefold() == alert.casefold()


@pytest.mark.parametrize(
    ("alert", "value", "says"),
    [
        ("HostHighCpu", 1.5, "HostHighCpu: 1.5 is out of range; give a value 0..1 (ratio 0..1"),
        ("HostDiskAlmostFull", -0.1, "give a value 0..1"),
        ("HostHighTemperature", 151.0, "give a value -50..150 (°C, default 80)"),
        ("HostHighTemperature", -60.0, "-50..150"),
        ("HostClockSkew", 0.0, "give a value above 0 and at most 3600 (seconds, default 1)"),
        ("HostHighLoad", 0.0, "above 0"),
        ("HostHighCpu", float("nan"), "out of range"),
        ("HostHighCpu", float("inf"), "out of range"),
    ],
)
def test_values_out_of_range_name_the_range(alert: str, value: float, says: str) -> None:
    """A value outside the alert's range is refused with the range, the unit and the default."""
    with pytest.raises(ThresholdError) as err:
        check(alert, value)
    assert says in str(err.value)


def test_an_alert_that_reads_no_threshold_is_refused_naming_those_that_do() -> None:
    """HostDown has no threshold: the error lists every alert that reads one."""
    with pytest.raises(ThresholdError) as err:
        find_alert("HostDown")
    text = str(err.value)
    assert text.startswith("'HostDown' is not an alert that reads thresholds; choose one of: ")
    for alert in THRESHOLD_ALERTS:
        assert alert.name in text


@pytest.mark.parametrize(
    ("host", "instance"),
    [
        (None, FLEET),
        ("", FLEET),
        ("  ", FLEET),
        ("nas", "192.168.1.5:9101"),
        ("NAS", "192.168.1.5:9101"),
        ("pi", "pi.lan:9100"),
        ("192.168.1.5:9101", "192.168.1.5:9101"),
        ("backup.lan:9100", "backup.lan:9100"),
        ("[fd00::5]:9100", "[fd00::5]:9100"),
    ],
)
def test_host_resolves_by_alias_or_as_an_instance(host: str | None, instance: str) -> None:
    """No host is the fleet; an alias (any case) is its instance; host:port stays as it is."""
    assert resolve_instance(host, ALIASES) == instance


@pytest.mark.parametrize("host", ["backup", "nas:", "nas:port", "a b:9100", 'x"}:9100'])
def test_unknown_host_names_the_aliases_and_the_instance_form(host: str) -> None:
    """A name that is no alias and no host:port is refused, naming the aliases known."""
    with pytest.raises(UnknownHost) as err:
        resolve_instance(host, ALIASES)
    assert "[bot.hosts] aliases (Pi, nas)" in str(err.value)
    assert "host:port" in str(err.value)


def test_threshold_is_fleet_wide_without_an_instance() -> None:
    """Instance "" means the whole fleet."""
    assert Threshold("HostHighCpu", FLEET, 0.8).fleet_wide
    assert not Threshold("HostHighCpu", "nas:9101", 0.8).fleet_wide


def test_messages_name_alert_host_value_and_default() -> None:
    """Set, clear and list answers are private, valid for Discord, and say what applies."""
    cpu = find_alert("HostHighCpu")
    set_ = set_message(Threshold("HostHighCpu", "192.168.1.5:9101", 0.8, "olga"), cpu, ALIASES)
    assert "HostHighCpu threshold for nas (192.168.1.5:9101) set to 0.8" in plain(set_.text)
    assert "default 0.9" in set_.text and set_.ephemeral
    gone = cleared_message(cpu, FLEET, True, ALIASES)
    assert "the whole fleet cleared: the default (0.9) applies again" in plain(gone.text)
    none = cleared_message(cpu, "x:1", False, ALIASES)
    assert none.outcome == "not_found"
    listed = list_message(
        [
            Threshold("HostHighCpu", "192.168.1.5:9101", 0.8, "olga"),
            Threshold("HostHighCpu", FLEET, 0.85, "ada"),
        ],
        ALIASES,
    )
    (embed,) = listed.embeds
    (field,) = embed.fields
    assert field.name == "HostHighCpu (ratio 0..1, default 0.9)"
    assert plain(field.value).splitlines() == [
        "the whole fleet: 0.85 (by ada)",
        "nas (192.168.1.5:9101): 0.8 (by olga)",
    ]
    assert "HostHighLoad" in embed.footer and "HostHighCpu" not in embed.footer
    for msg in (set_, gone, none, listed, list_message([], ALIASES)):
        assert validate(msg) == []


def test_list_of_many_hosts_splits_into_valid_messages() -> None:
    """A threshold on each of 200 hosts for every alert: 20 shown per alert with the count of
    the rest, in messages the splitter makes valid for Discord."""
    many = [
        Threshold(a.name, f"host{i}.lan:9100", a.default, "x" * 40)
        for a in THRESHOLD_ALERTS
        for i in range(200)
    ]
    msg = list_message(many, {})
    parts = split(msg)
    assert all(validate(p) == [] for p in parts)
    text = "\n".join(f.value for p in parts for e in p.embeds for f in e.fields)
    assert text.count("… and 180 more") == len(THRESHOLD_ALERTS)
