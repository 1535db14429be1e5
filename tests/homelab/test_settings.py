"""The one settings system: TOML table, HOMELAB_ environment, errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from homelab.settings import (
    ConfigError,
    SectionSettings,
    http_url,
    load_settings,
    resolve_config_path,
    secrets_of,
)


class Inner(BaseModel):
    """A nested table."""

    model_config = {"extra": "forbid"}
    url: str = "http://x"
    token: SecretStr = SecretStr("")


class Store(BaseModel):
    """A nested table holding paths."""

    model_config = {"extra": "forbid"}
    spool: Path = Path("spool")
    key_file: Path | None = None


class Demo(SectionSettings, section="demo"):
    """A settings class for the tests."""

    port: int = 1
    name: str = "n"
    inner: Inner = Inner()


class Stateful(SectionSettings, section="demo"):
    """A settings class with paths and a mapping."""

    port: int = 1
    inner: Inner = Inner()
    data: Path = Path("var/data")
    store: Store = Store()
    headers: dict[str, str] = {}


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


def test_search_order_finds_make_runs_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--config, then $HOMELAB_CONFIG, then ./homelab.toml, then ./var/homelab.toml."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOMELAB_CONFIG", raising=False)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "homelab.toml").write_text("")
    assert resolve_config_path() == Path("var/homelab.toml")
    (tmp_path / "homelab.toml").write_text("")
    assert resolve_config_path() == Path("homelab.toml")
    monkeypatch.setenv("HOMELAB_CONFIG", "/elsewhere.toml")
    assert resolve_config_path() == Path("/elsewhere.toml")
    assert resolve_config_path("given.toml") == Path("given.toml")


def test_the_source_is_described_with_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """describe_source names the file and what chose it, or says that none is used."""
    from homelab import settings as module

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOMELAB_CONFIG", raising=False)
    monkeypatch.setattr(module, "DEFAULT_PATHS", (Path("homelab.toml"), Path("var/homelab.toml")))
    assert module.describe_source() == (
        "no settings file (neither --config nor $HOMELAB_CONFIG is set, and none of "
        "./homelab.toml, ./var/homelab.toml exists): defaults and environment only"
    )
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "homelab.toml").write_text("")
    found = f"{tmp_path / 'var' / 'homelab.toml'} (found in the search order)"
    assert module.describe_source() == found
    monkeypatch.setenv("HOMELAB_CONFIG", "/x.toml")
    assert module.describe_source() == "/x.toml ($HOMELAB_CONFIG)"
    assert module.describe_source("/y.toml") == "/y.toml (--config)"


def test_relative_paths_in_a_file_are_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file's relative paths resolve against its directory; defaults and env against cwd."""
    conf = tmp_path / "conf"
    conf.mkdir()
    cfg = conf / "homelab.toml"
    cfg.write_text(
        '[demo]\ndata = "db/x.sqlite3"\n[demo.store]\nspool = "/abs/spool"\n'
        'key_file = "keys/k"\n'
    )
    monkeypatch.chdir(tmp_path)
    s = load_settings(Stateful, Path("conf/homelab.toml"))
    assert s.data == conf / "db" / "x.sqlite3"
    assert s.store.spool == Path("/abs/spool") and s.store.key_file == conf / "keys" / "k"
    cfg.write_text("[demo]\n")
    assert load_settings(Stateful, cfg).data == Path("var/data")  # a default: cwd-relative
    monkeypatch.setenv("HOMELAB_DEMO__DATA", "from/env")
    assert load_settings(Stateful, cfg).data == Path("from/env")


def test_misspelt_environment_variables_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown HOMELAB_DEMO__* variable is named with the nearest valid one."""
    monkeypatch.setenv("HOMELAB_DEMO__PROT", "1")
    monkeypatch.setenv("HOMELAB_DEMO__INNER__TOKN", "x")
    with pytest.raises(ConfigError) as err:
        load_settings(Stateful, None)
    assert err.value.problems == [
        "environment variable HOMELAB_DEMO__INNER__TOKN: no such setting "
        "(did you mean HOMELAB_DEMO__INNER__TOKEN?)",
        "environment variable HOMELAB_DEMO__PROT: no such setting "
        "(did you mean HOMELAB_DEMO__PORT?)",
    ]
    monkeypatch.delenv("HOMELAB_DEMO__PROT")
    monkeypatch.delenv("HOMELAB_DEMO__INNER__TOKN")
    # Valid ones: a field, a nested field, a whole table as JSON, a mapping's key.
    monkeypatch.setenv("HOMELAB_DEMO__PORT", "2")
    monkeypatch.setenv("HOMELAB_DEMO__INNER__URL", "http://y")
    monkeypatch.setenv("HOMELAB_DEMO__STORE", '{"spool": "/s"}')
    monkeypatch.setenv("HOMELAB_DEMO__HEADERS__X_KEY", "v")
    monkeypatch.setenv("HOMELAB_DEMOX", "other programs' variables are not ours")
    s = load_settings(Stateful, None)
    assert s.port == 2 and s.store.spool == Path("/s") and s.headers == {"x_key": "v"}


def test_unreadable_and_non_utf8_files_are_clear(tmp_path: Path) -> None:
    """A file that is not UTF-8 is named with the offending byte, not a traceback."""
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('[demo]\nname = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.toml is not UTF-8 text \(byte \d+"):
        load_settings(Stateful, bad)


def test_urls_need_a_host() -> None:
    """http:// alone, a bad port or another scheme are refused; a good URL loses its slash."""
    assert http_url("http://127.0.0.1:9090/") == "http://127.0.0.1:9090"
    for bad, words in (
        ("http://", "has no host"),
        ("https://:9090", "has no host"),
        ("http://host:port", "not a valid URL"),
        ("ftp://host", "must start with"),
    ):
        with pytest.raises(ValueError, match=words):
            http_url(bad)
