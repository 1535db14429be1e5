"""`make run` preparation: clear refusals, and the files it writes under var/."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.settings import BotSettings
from exporter.settings import ExporterSettings
from homelab import stack
from homelab.settings import load_settings


def test_missing_binaries_are_named_with_their_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the service binaries make run says which are missing and how to install them."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert stack.main(["--check", "--var", str(tmp_path / "var")]) == 1
    err = capsys.readouterr().err
    for package in ("prometheus", "prometheus-alertmanager", "influxdb"):
        assert f"'{package}'" in err
    assert "scripts/install-services" in err
    assert not (tmp_path / "var").exists()


def test_prepare_writes_configs_and_a_private_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """var/ gets the InfluxDB config, a 0600 webhook token and settings both programs accept."""
    monkeypatch.setattr(stack, "port_in_use", lambda port: False)
    var = tmp_path / "var"
    stack.prepare(var)
    token = var / "secrets" / "alertmanager-webhook-token"
    assert token.stat().st_mode & 0o777 == 0o600
    assert len(token.read_text().strip()) >= 32
    first = token.read_text()
    stack.prepare(var)  # running again keeps the token and the user's settings
    assert token.read_text() == first
    conf = (var / "influxdb.conf").read_text()
    assert 'bind-address = "127.0.0.1:8086"' in conf and str(var / "influxdb" / "wal") in conf
    assert 'bind-address = "127.0.0.1:8088"' in conf  # the RPC port: loopback, and checked
    settings = var / "homelab.toml"
    tomllib.loads(settings.read_text())
    exporter = load_settings(ExporterSettings, settings)
    assert exporter.listen_address == "127.0.0.1" and exporter.influx.enabled
    assert load_settings(BotSettings, settings).web.port == 9102


def test_taken_ports_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A port held by something else (InfluxDB's RPC port included) stops make run by name."""
    monkeypatch.setattr(stack, "port_in_use", lambda port: port in {9090, 8088})
    with pytest.raises(stack.StackError) as err:
        stack.prepare(tmp_path / "var")
    assert "9090 (prometheus)" in str(err.value) and "8088 (influxdb rpc)" in str(err.value)
    assert "systemctl disable --now" in str(err.value)


def test_stale_settings_file_is_rejected_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A var/homelab.toml that a program rejects is named, with what to do, before start."""
    monkeypatch.setattr(stack, "port_in_use", lambda port: False)
    var = tmp_path / "var"
    var.mkdir()
    (var / "homelab.toml").write_text("[bot]\nold_setting = 1\n")
    with pytest.raises(stack.StackError) as err:
        stack.prepare(var)
    text = str(err.value)
    assert "homelab-bot rejects" in text and "bot.old_setting: unknown setting" in text
    assert "delete it" in text


def test_banner_says_in_one_line_which_alert_receivers_to_configure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh var/ gets an Alertmanager config with the unconfigured receivers silent, and
    the banner names them and their files in one line; once both files hold a URL, no line."""
    monkeypatch.setattr(stack, "port_in_use", lambda port: False)
    var = tmp_path / "var"
    stack.prepare(var)
    generated = (var / "alertmanager.yml").read_text()
    assert "api_url_file" not in generated
    assert str(var / "secrets" / "alertmanager-webhook-token") in generated
    lines = [ln for ln in stack.banner(var, stack.alertmanager_config(var)[1]).splitlines()
             if "fallback" in ln or "deadmans-switch" in ln]
    assert len(lines) == 1
    assert str(var / "secrets" / "fallback-webhook-url") in lines[0]
    assert str(var / "secrets" / "deadmans-switch-url") in lines[0]
    for name in ("fallback-webhook-url", "deadmans-switch-url"):
        (var / "secrets" / name).write_text("https://example.invalid/hook\n")
    stack.prepare(var)
    assert (var / "alertmanager.yml").read_text().count("api_url_file") == 2
    assert "alerts:" not in stack.banner(var, stack.alertmanager_config(var)[1])


def test_readme_names_every_port_make_run_takes() -> None:
    """The README lists each port `make run` binds (InfluxDB's RPC port 8088 included), and
    no longer says project management is not built (it is: docs/projects.md)."""
    readme = (stack.ROOT / "README.md").read_text()
    flat = " ".join(readme.split())
    for name, port in stack.PORTS.items():
        assert str(port) in flat, f"README.md does not name port {port} ({name})"
    assert "8088" in flat and "RPC" in flat
    assert "not built" not in flat and "docs/projects.md" in flat
