"""The one settings system: TOML table, HOMELAB_ environment, errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from homelab.settings import ConfigError, SectionSettings, load_settings, secrets_of


class Inner(BaseModel):
    """A nested table."""

    model_config = {"extra": "forbid"}
    url: str = "http://x"
    token: SecretStr = SecretStr("")


class Demo(SectionSettings, section="demo"):
    """A settings class for the tests."""

    port: int = 1
    name: str = "n"
    inner: Inner = Inner()


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "homelab.toml"
    path.write_text(text)
    return path


def test_file_table_is_read(tmp_path: Path) -> None:
    """Values come from the program's own table of the file."""
    path = _toml(tmp_path, '[demo]\nport = 7\n[demo.inner]\nurl = "http://f"\n[other]\nx = 1\n')
    s = load_settings(Demo, path)
    assert (s.port, s.inner.url) == (7, "http://f")


def test_environment_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOMELAB_<SECTION>__FIELD and nested __ names override the file."""
    path = _toml(tmp_path, "[demo]\nport = 7\n")
    monkeypatch.setenv("HOMELAB_DEMO__PORT", "8")
    monkeypatch.setenv("HOMELAB_DEMO__INNER__TOKEN", "s3cr3t-value")
    s = load_settings(Demo, path)
    assert s.port == 8
    assert s.inner.token.get_secret_value() == "s3cr3t-value"
    assert secrets_of(s) == ["s3cr3t-value"]


def test_error_names_setting_file_key_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong value is reported with its dotted name, file key and environment variable."""
    monkeypatch.setenv("HOMELAB_DEMO__PORT", "not-a-number")
    with pytest.raises(ConfigError) as err:
        load_settings(Demo, None)
    (problem,) = err.value.problems
    assert problem.startswith("demo.port: ")
    assert "HOMELAB_DEMO__PORT" in problem and "'not-a-number'" in problem


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    """A misspelt key fails instead of being silently ignored."""
    path = _toml(tmp_path, "[demo]\nprot = 7\n")
    with pytest.raises(ConfigError, match=r"demo\.prot: unknown setting"):
        load_settings(Demo, path)


def test_secret_values_are_never_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid secret is named but its value is not shown."""

    class WithSecret(SectionSettings, section="sec"):
        """Secret with a constraint."""

        api_token: int = 0

    monkeypatch.setenv("HOMELAB_SEC__API_TOKEN", "leaky-canary")
    with pytest.raises(ConfigError) as err:
        load_settings(WithSecret, None)
    assert "sec.api_token" in str(err.value)
    assert "leaky-canary" not in str(err.value)


def test_missing_and_malformed_files_are_clear(tmp_path: Path) -> None:
    """A missing file and invalid TOML each give a one-line reason naming the file."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(Demo, tmp_path / "nope.toml")
    bad = _toml(tmp_path, "[demo\nport=")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(Demo, bad)
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_settings(Demo, tmp_path)


def test_masked_hides_secrets() -> None:
    """masked() shows every setting but replaces secret values."""
    s = Demo(inner=Inner(token=SecretStr("abc123")))
    assert s.masked() == {"port": 1, "name": "n", "inner": {"url": "http://x", "token": "********"}}


def test_file_without_this_programs_table_uses_defaults(tmp_path: Path) -> None:
    """A file holding only another program's table is fine: this one keeps its defaults."""
    path = _toml(tmp_path, "[other]\nport = 3\n")
    assert load_settings(Demo, path).port == 1
    bad = _toml(tmp_path, "demo = 3\n")
    with pytest.raises(ConfigError, match=r"\[demo\] .* must be a table"):
        load_settings(Demo, bad)


class WithUrls(SectionSettings, section="urls"):
    """Settings holding credentials outside SecretStr."""

    url: str = "http://127.0.0.1:9090"
    headers: dict[str, str] = {}


def test_url_passwords_and_credential_headers_are_masked_and_registered() -> None:
    """user:password@ in URLs and credential-named headers are masked and redacted from logs."""
    s = WithUrls(
        url="http://ops:pw%2F12345@prom:9090/",
        headers={"X-Api-Key": "key-canary-777", "X-Scope-OrgID": "homelab"},
    )
    shown = str(s.masked())
    assert "pw%2F12345" not in shown and "key-canary-777" not in shown
    assert "http://ops:********@prom:9090/" in shown
    assert "'X-Scope-OrgID': 'homelab'" in shown  # a tenant id is not a secret
    assert set(secrets_of(s)) == {"pw%2F12345", "pw/12345", "key-canary-777"}


class WithList(SectionSettings, section="lst"):
    """A list and a table, for error messages."""

    ids: list[int] = []
    inner: Inner = Inner()


def test_list_position_and_bad_json_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad list item names its position; a malformed JSON table names its variable."""
    monkeypatch.setenv("HOMELAB_LST__IDS", '[1, "x"]')
    with pytest.raises(ConfigError) as err:
        load_settings(WithList, None)
    assert err.value.problems[0].startswith("lst.ids[1]: ")
    assert "env HOMELAB_LST__IDS]" in err.value.problems[0]
    monkeypatch.setenv("HOMELAB_LST__IDS", "[1]")
    monkeypatch.setenv("HOMELAB_LST__INNER", "{bad")
    with pytest.raises(ConfigError, match=r"lst\.inner: HOMELAB_LST__INNER is not valid JSON"):
        load_settings(WithList, None)
