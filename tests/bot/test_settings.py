"""[bot.hosts]: aliases load from the settings file and are checked."""

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
