"""Settings: env and file reach the lean runtime config intact; bad values name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter import cli
from exporter.config import RuntimeConfig
from exporter.settings import ExporterSettings
from homelab.settings import ConfigError, load_settings


def test_env_settings_reach_the_runtime_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOMELAB_EXPORTER__* values, secrets included, survive the JSON hand-over."""
    monkeypatch.setenv("HOMELAB_EXPORTER__PORT", "9200")
    monkeypatch.setenv("HOMELAB_EXPORTER__PROCFS_PATH", "/host/proc")
    monkeypatch.setenv("HOMELAB_EXPORTER__INFLUX__ENABLED", "true")
    monkeypatch.setenv("HOMELAB_EXPORTER__INFLUX__API", "v2")
    monkeypatch.setenv("HOMELAB_EXPORTER__INFLUX__ORG", "home")
    monkeypatch.setenv("HOMELAB_EXPORTER__INFLUX__BUCKET", "metrics")
    monkeypatch.setenv("HOMELAB_EXPORTER__INFLUX__TOKEN", "tok-123456")
    config = RuntimeConfig.from_settings(load_settings(ExporterSettings))
    assert (config.port, config.procfs_path) == (9200, "/host/proc")
    assert (config.influx.api, config.influx.token, config.influx.bucket) == (
        "v2", "tok-123456", "metrics",
    )  # fmt: skip
    assert RuntimeConfig.from_json(config.to_json()) == config
    assert config.secrets() == ["tok-123456"]
    assert "tok-123456" not in repr(config)


def test_defaults_match_node_exporter_neighbourhood() -> None:
    """Port 9101 beside node_exporter's 9100, 10 s InfluxDB interval."""
    config = RuntimeConfig.from_settings(load_settings(ExporterSettings))
    assert config.port == 9101 and config.influx.interval_seconds == 10.0


def test_a_bad_regex_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid exclusion pattern fails at start-up with the file key and env name."""
    monkeypatch.setenv("HOMELAB_EXPORTER__DISKSTATS_DEVICE_EXCLUDE", "^(ram")
    with pytest.raises(ConfigError) as err:
        load_settings(ExporterSettings)
    text = str(err.value)
    assert "exporter.diskstats_device_exclude" in text
    assert "HOMELAB_EXPORTER__DISKSTATS_DEVICE_EXCLUDE" in text and "regular expression" in text


def test_check_config_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`homelab-exporter check-config` prints the settings with the password masked."""
    cfg = tmp_path / "homelab.toml"
    cfg.write_text('[exporter]\nport = 9109\n[exporter.influx]\npassword = "hunter22"\n')
    assert cli.main(["--config", str(cfg), "check-config"]) == 0
    out = capsys.readouterr().out
    assert '"port": 9109' in out and "hunter22" not in out and "********" in out
    monkeypatch.setenv("HOMELAB_EXPORTER__PORT", "70000")
    assert cli.main(["--config", str(cfg), "check-config"]) == 2
    assert "HOMELAB_EXPORTER__PORT" in capsys.readouterr().err
