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


def test_prepare_writes_configs_and_a_private_token(tmp_path: Path) -> None:
    """var/ gets the InfluxDB config, a 0600 webhook token and settings both programs accept."""
    var = tmp_path / "var"
    busy = [c.port for c in stack.COMPONENTS if stack.port_in_use(c.port)]
    assert not busy, f"ports {busy} are taken: stop `make run` before running the tests"
    stack.prepare(var)
    token = var / "secrets" / "alertmanager-webhook-token"
    assert token.stat().st_mode & 0o777 == 0o600
    assert len(token.read_text().strip()) >= 32
    first = token.read_text()
    stack.prepare(var)  # running again keeps the token and the user's settings
    assert token.read_text() == first
    conf = (var / "influxdb.conf").read_text()
    assert 'bind-address = "127.0.0.1:8086"' in conf and str(var / "influxdb" / "wal") in conf
    settings = var / "homelab.toml"
    tomllib.loads(settings.read_text())
    exporter = load_settings(ExporterSettings, settings)
    assert exporter.listen_address == "127.0.0.1" and exporter.influx.enabled
    assert load_settings(BotSettings, settings).web.port == 9102
