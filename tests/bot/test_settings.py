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


@pytest.mark.parametrize(
    ("alerts", "says"),
    [
        ('[[bot.alerts.routes]]\nwebhook_url = "https://discord.com/api/webhooks/1/x"\n',
         "webhook_url takes a vault reference, secret:<name>"),
        ('[[bot.alerts.routes]]\nwebhook_url = "secret:a"\nwebhook_url_file = "f"\n',
         "set webhook_url_file or webhook_url, not both"),
        ('[bot.alerts]\ncredentials = "secret:a"\ncredentials_file = "f"\n',
         "set credentials_file or credentials, not both"),
        ('[bot.alerts]\nusername = "am"\npassword = "p"\npassword_file = "f"\n',
         "set password_file or password, not both"),
        ('[bot.alerts]\ncredentials = "secret:a"\nusername = "am"\npassword = "p"\n',
         "not both"),
    ],
)  # fmt: skip
def test_alert_credentials_in_the_vault_are_checked(
    tmp_path: Path, alerts: str, says: str
) -> None:
    """The receiver's and the webhooks' vault settings: a literal URL and two sources refused."""
    path = tmp_path / "homelab.toml"
    path.write_text(f'[bot]\ndatabase_path = "{tmp_path / "db"}"\n{alerts}')
    with pytest.raises(ConfigError, match=says):
        load_settings(BotSettings, path, resolve_secrets=False)


def test_alert_secrets_resolve_and_the_route_keeps_the_name(tmp_path: Path) -> None:
    """credentials and a route's webhook_url come from the vault; the route's destination is
    keyed by the secret's name; a missing one names the setting."""
    from bot.adapters.vault import Vault
    from bot.interfaces.runtime import alert_routing
    from bot.interfaces.web.alerts import WebhookAuth

    path = tmp_path / "homelab.toml"
    path.write_text(
        f'[bot]\ndatabase_path = "{tmp_path / "db"}"\n[bot.alerts]\n'
        'credentials = "secret:am"\n[[bot.alerts.routes]]\nmatchers = [\'a="b"\']\n'
        'webhook_url = "secret:hook"\n'
    )
    with pytest.raises(ConfigError, match=r"bot\.alerts\.credentials: secret 'am' is not in"):
        load_settings(BotSettings, path)
    vault = Vault.open(tmp_path / "db", tmp_path / "vault.key")
    vault.set("am", "tok-Q7")
    vault.set("hook", "https://discord.com/api/webhooks/1/secret-part")
    vault.close()
    settings = load_settings(BotSettings, path)
    auth = WebhookAuth.from_settings(settings.alerts)
    assert auth.check("Bearer tok-Q7") and not auth.check("Bearer nope")
    (route,) = alert_routing(settings).routes
    assert route.destination.key == "webhook-secret:hook"
    assert settings.webhook_tokens() == ["secret-part"]
