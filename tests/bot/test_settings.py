"""Bot settings: [bot.hosts], [bot.influxdb] and [bot.charts] load from the file, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import BotSettings
from homelab.settings import ConfigError, load_settings


def _load(tmp_path: Path, text: str) -> BotSettings:
    path = tmp_path / "homelab.toml"
    path.write_text(text)
    return load_settings(BotSettings, path)


def test_aliases_are_read_from_bot_hosts(tmp_path: Path) -> None:
    """`[bot.hosts] aliases = {nas = "..."}` maps a name to an instance."""
    s = _load(tmp_path, '[bot.hosts]\naliases = { nas = "192.168.1.5:9101" }\n')
    assert s.hosts.aliases == {"nas": "192.168.1.5:9101"}


@pytest.mark.parametrize(
    ("aliases", "says"),
    [
        ('{ nas = "" }', "may be empty"),
        ('{ " nas" = "a:1" }', "surrounding spaces"),
        ('{ nas = "a:1", NAS = "b:1" }', "differ only in case"),
    ],
)
def test_bad_aliases_are_named(tmp_path: Path, aliases: str, says: str) -> None:
    """An empty, padded or case-duplicated alias is an error naming bot.hosts.aliases."""
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, f"[bot.hosts]\naliases = {aliases}\n")
    assert "bot.hosts.aliases" in str(err.value) and says in str(err.value)


def test_influxdb_and_chart_settings_are_read(tmp_path: Path) -> None:
    """[bot.influxdb], [bot.charts] and the Prometheus retention load from the file."""
    s = _load(
        tmp_path,
        "[bot.prometheus]\nretention_seconds = 86400.0\nscrape_interval_seconds = 30.0\n"
        '[bot.influxdb]\nenabled = true\nurl = "http://influx:8086"\ntoken = "t0k"\n'
        "[bot.charts]\nplot_width_px = 800\n",
    )
    assert (s.prometheus.retention_seconds, s.prometheus.scrape_interval_seconds) == (86400, 30)
    assert s.influxdb.enabled and s.influxdb.url == "http://influx:8086"
    assert s.influxdb.token.get_secret_value() == "t0k" and s.charts.plot_width_px == 800
    assert BotSettings().prometheus.retention_seconds == 15 * 86400


def test_influxdb_token_and_password_together_are_refused(tmp_path: Path) -> None:
    """A token and a username at once is an error naming bot.influxdb."""
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '[bot.influxdb]\ntoken = "t"\nusername = "u"\npassword = "p"\n')
    assert "bot.influxdb" in str(err.value) and "not both" in str(err.value)
