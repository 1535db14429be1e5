"""One settings system for the exporter and the bot: a TOML file plus HOMELAB_ variables.

Each program reads its own table of one file (`[exporter]` or `[bot]`) and the environment
variables `HOMELAB_<SECTION>__<FIELD>` (nested fields joined by `__`). Environment beats file,
file beats defaults. The file is the one given by `--config`, else `$HOMELAB_CONFIG`, else
`./homelab.toml` or `/etc/homelab/homelab.toml` when they exist.

Example::

    class ExporterSettings(SectionSettings, section="exporter"):
        port: int = 9101

    settings = load_settings(ExporterSettings, Path("homelab.toml"))
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

ENV_PREFIX = "HOMELAB_"
S = TypeVar("S", bound="SectionSettings")
DEFAULT_PATHS = (Path("homelab.toml"), Path("/etc/homelab/homelab.toml"))


class ConfigError(Exception):
    """The configuration is unusable; `problems` names each setting and what is wrong."""

    def __init__(self, problems: list[str], path: Path | None = None) -> None:
        self.problems = problems
        self.path = path
        where = f" (file {path})" if path else ""
        super().__init__(f"invalid configuration{where}:\n  " + "\n  ".join(problems))


def resolve_config_path(explicit: str | Path | None = None) -> Path | None:
    """Pick the settings file: explicit path, $HOMELAB_CONFIG, or a default that exists."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("HOMELAB_CONFIG")
    if env:
        return Path(env)
    for candidate in DEFAULT_PATHS:
        if candidate.is_file():
            return candidate
    return None


class SectionSettings(BaseSettings):
    """Base class of a program's settings: one TOML table and one environment prefix."""

    section: ClassVar[str] = ""
    _file_table: ClassVar[dict[str, Any]] = {}

    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    def __init_subclass__(cls, section: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if section:
            cls.section = section
            cls.model_config["env_prefix"] = f"{ENV_PREFIX}{section.upper()}__"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Priority: constructor arguments, environment, TOML table, defaults."""
        file_source = InitSettingsSource(settings_cls, init_kwargs=dict(cls._file_table))
        return (init_settings, env_settings, file_source)

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, every secret replaced by '********'."""
        return _mask(self)


def _mask(model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        out[name] = _mask_value(value)
    return out


MASK = "********"
# Mapping keys (HTTP header names, mostly) whose values are credentials.
_SECRET_KEY = re.compile(r"(?i)auth|key|token|secret|pass|cookie|session|credential")


def _url_password(value: str) -> str | None:
    """The password of a URL with user:password@, or None."""
    if "://" not in value or "@" not in value:
        return None
    try:
        return urlsplit(value).password or None
    except ValueError:
        return None


def _mask_url(value: str) -> str:
    parts = urlsplit(value)
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{netloc[1]}"))


def _mask_value(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, str) and _url_password(value):
        return _mask_url(value)
    if isinstance(value, BaseModel):
        return _mask(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if _SECRET_KEY.search(str(k)) and v else _mask_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def secrets_of(model: BaseModel) -> list[str]:
    """Every secret in a settings tree (for the log redaction filter).

    Secrets are SecretStr values, passwords inside URLs, and the values of mapping keys that
    name a credential (an `X-Api-Key` header, say).
    """
    found: list[str] = []
    for name in type(model).model_fields:
        found.extend(_secrets_in(getattr(model, name)))
    return found


def _secrets_in(value: Any) -> list[str]:
    if isinstance(value, SecretStr):
        return [value.get_secret_value()] if value.get_secret_value() else []
    if isinstance(value, str):
        password = _url_password(value)
        return [password, unquote(password)] if password else []
    if isinstance(value, BaseModel):
        return secrets_of(value)
    if isinstance(value, Mapping):
        found: list[str] = []
        for k, v in value.items():
            if _SECRET_KEY.search(str(k)) and isinstance(v, str) and v:
                found.append(v)
            else:
                found.extend(_secrets_in(v))
        return found
    if isinstance(value, list | tuple):
        return [s for v in value for s in _secrets_in(v)]
    return []


def load_settings(cls: type[S], path: Path | None = None) -> S:
    """Load `cls` from the file and environment, or raise ConfigError naming each bad setting."""
    table: dict[str, Any] = {}
    if path is not None:
        if not path.exists():
            raise ConfigError([f"config file {path} does not exist"], path)
        if not path.is_file():
            raise ConfigError([f"config file {path} is not a regular file"], path)
        try:
            with path.open("rb") as fh:
                document = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path} is not valid TOML: {exc}"], path) from exc
        # A file may hold only the other program's table: then this one uses its defaults.
        found = document.get(cls.section, {})
        if not isinstance(found, dict):
            raise ConfigError([f"[{cls.section}] in {path} must be a table"], path)
        table = found
    bound = type(cls.__name__, (cls,), {"_file_table": table, "__module__": cls.__module__})
    try:
        return bound()  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ConfigError([_describe(cls, err) for err in exc.errors()], path) from None
    except SettingsError as exc:
        # A table or list given in the environment must be JSON; say which variable is wrong.
        field = re.search(r'field "([^"]+)"', str(exc))
        name = field.group(1) if field else "?"
        env = f"{ENV_PREFIX}{cls.section.upper()}__{name.upper()}"
        raise ConfigError(
            [f"{cls.section}.{name}: {env} is not valid JSON (tables and lists in the "
             f"environment are JSON, e.g. {env}='{{\"key\": \"value\"}}' or '[1, 2]')"],
            path,
        ) from None


def _describe(cls: type[SectionSettings], err: Any) -> str:
    # Field names become dotted parts; list positions and mapping keys become [..].
    path, env_parts, in_field = "", [], True
    for part in err["loc"]:
        if isinstance(part, str) and in_field and re.fullmatch(r"[A-Za-z_]\w*", part):
            path += f".{part}" if path else part
            env_parts.append(part.upper())
        else:
            path += f"[{part!r}]" if isinstance(part, str) else f"[{part}]"
            in_field = False  # what follows an index is inside a list item or mapping value
    dotted = f"{cls.section}.{path}"
    env = f"{ENV_PREFIX}{cls.section.upper()}__" + "__".join(env_parts)
    given = err.get("input")
    if isinstance(given, str) and _url_password(given):
        given = _mask_url(given)
    shown = "" if err["type"] == "missing" or isinstance(given, dict) else f" (got {given!r})"
    if _SECRET_KEY.search(dotted):
        shown = ""
    if err["type"] == "extra_forbidden":
        return f"{dotted}: unknown setting (misspelt? see deploy/homelab.example.toml)"
    return f"{dotted}: {err['msg']}{shown} [file key [{cls.section}] {path}, env {env}]"
