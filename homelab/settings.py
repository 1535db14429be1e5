"""One settings system for the exporter and the bot: a TOML file plus HOMELAB_ variables.

Each program reads its own table of one file (`[exporter]` or `[bot]`) and the environment
variables `HOMELAB_<SECTION>__<FIELD>` (nested fields joined by `__`). Environment beats file,
file beats defaults. The file is the one given by `--config`, else `$HOMELAB_CONFIG`, else the
first of `./homelab.toml`, `./var/homelab.toml` (what `make run` writes) and
`/etc/homelab/homelab.toml` that exists.

A relative path given in the file (database_path, image_dir, key_file, spool_dir, ...) is
relative to the file's directory, so every command using one file uses the same state
wherever it runs; relative paths from the environment and the defaults are relative to the
working directory. An unknown `HOMELAB_<SECTION>__*` variable is an error, as an unknown file
key is.

Example::

    class ExporterSettings(SectionSettings, section="exporter"):
        port: int = 9101

    settings = load_settings(ExporterSettings, Path("homelab.toml"))
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
import typing
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
# Searched in this order when neither --config nor $HOMELAB_CONFIG names a file.
DEFAULT_PATHS = (
    Path("homelab.toml"),
    Path("var/homelab.toml"),
    Path("/etc/homelab/homelab.toml"),
)
SEARCH_ORDER = "--config, $HOMELAB_CONFIG, " + ", ".join(
    str(p) if p.is_absolute() else f"./{p}" for p in DEFAULT_PATHS
)


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
        try:
            if candidate.is_file():
                return candidate
        except OSError:  # an unreadable /etc/homelab: not found here, said by load_settings
            continue
    return None


def describe_source(explicit: str | Path | None = None) -> str:
    """Which settings file a program would use, and why, in words (for --help and logs)."""
    path = resolve_config_path(explicit)
    if path is None:
        found = ", ".join(str(p) if p.is_absolute() else f"./{p}" for p in DEFAULT_PATHS)
        return (
            "no settings file (neither --config nor $HOMELAB_CONFIG is set, and none of "
            f"{found} exists): defaults and environment only"
        )
    if explicit:
        why = "--config"
    elif os.environ.get("HOMELAB_CONFIG"):
        why = "$HOMELAB_CONFIG"
    else:
        why = "found in the search order"
    return f"{path.absolute()} ({why})"


def http_url(value: str) -> str:
    """`value` as an http(s) URL with a host and no trailing slash, or ValueError saying why.

    For pydantic validators of URL settings (the message is shown after the setting's name).
    """
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if not parts.hostname:
        raise ValueError("has no host name (e.g. http://127.0.0.1:9090)")
    return value.rstrip("/")


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

    def complete(self, path: Path | None, *, resolve_secrets: bool = True) -> list[str]:
        """Finish loading: fill settings that depend on the file, resolve `secret:` references.

        Returns a problem per bad setting (empty when all is well); programs override it.
        """
        return []

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


def load_settings(cls: type[S], path: Path | None = None, *, resolve_secrets: bool = True) -> S:
    """Load `cls` from the file and environment, or raise ConfigError naming each bad setting.

    With `resolve_secrets`, settings given as `secret:<name>` are read from the program's
    vault (see `SectionSettings.complete`); without, they keep the reference.
    """
    table: dict[str, Any] = {}
    if path is not None:
        document = _read_toml(path)
        # A file may hold only the other program's table: then this one uses its defaults.
        found = document.get(cls.section, {})
        if not isinstance(found, dict):
            raise ConfigError([f"[{cls.section}] in {path} must be a table"], path)
        table = _resolve_paths(cls, found, path.absolute().parent)
    unknown = unknown_environment(cls)
    if unknown:
        raise ConfigError(unknown, path)
    bound = type(cls.__name__, (cls,), {"_file_table": table, "__module__": cls.__module__})
    try:
        settings: S = bound()
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
    problems = settings.complete(path, resolve_secrets=resolve_secrets)
    if problems:
        raise ConfigError(problems, path)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed file, or ConfigError saying why it cannot be read (never a traceback)."""
    try:
        if not path.exists():  # only --config or $HOMELAB_CONFIG can name a missing file
            raise ConfigError(
                [f"config file {path} does not exist (check --config and $HOMELAB_CONFIG)"],
                path,
            )
        if not path.is_file():
            raise ConfigError([f"config file {path} is not a regular file"], path)
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path} is not valid TOML: {exc}"], path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"],
            path,
        ) from None
    except OSError as exc:
        raise ConfigError(
            [f"cannot read config file {path}: {exc.strerror or exc}; check its permissions"],
            path,
        ) from None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (directly or as `Model | None`), else None."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_path(annotation: Any) -> bool:
    """A `Path` or `Path | None` field."""
    if annotation is Path:
        return True
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and Path in typing.get_args(annotation)


def _resolve_paths(model: type[BaseModel], table: dict[str, Any], base: Path) -> dict[str, Any]:
    """`table` with every relative path of a Path field made relative to `base` instead."""
    out = dict(table)
    for name, value in table.items():
        field = model.model_fields.get(name)
        if field is None:
            continue  # an unknown key: validation names it
        sub = _model_of(field.annotation)
        if sub is not None and isinstance(value, dict):
            out[name] = _resolve_paths(sub, value, base)
        elif _is_path(field.annotation) and isinstance(value, str) and value:
            path = Path(value).expanduser()
            out[name] = str(path if path.is_absolute() else base / path)
    return out


def _env_names(model: type[BaseModel], prefix: str) -> list[str]:
    """Every variable that names a setting of `model` (tables and their fields)."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        names.append(env)
        sub = _model_of(field.annotation)
        if sub is not None:
            names.extend(_env_names(sub, env + "__"))
    return names


def _env_known(model: type[BaseModel], parts: list[str]) -> bool:
    """Whether the `__`-separated parts of a variable name a setting of `model`."""
    fields = {n.upper(): f for n, f in model.model_fields.items()}
    field = fields.get(parts[0].upper())
    if field is None:
        return False
    if len(parts) == 1:
        return True
    sub = _model_of(field.annotation)
    if sub is not None:
        return _env_known(sub, parts[1:])
    # A mapping's keys may be given one variable each (..._HEADERS__X_API_KEY).
    origin = typing.get_origin(field.annotation)
    return origin is dict or (isinstance(origin, type) and issubclass(origin, Mapping))


def _nearest(name: str, valid: list[str]) -> str | None:
    """The valid name most like `name`, whole or by its last part (PROT finds WEB__PORT).

    Names are given without their common HOMELAB_<SECTION>__ prefix, which would make every
    candidate look alike.
    """

    def score(candidate: str) -> float:
        whole = difflib.SequenceMatcher(None, name, candidate).ratio()
        last = difflib.SequenceMatcher(
            None, name.rsplit("__", 1)[-1], candidate.rsplit("__", 1)[-1]
        ).ratio()
        return max(whole, last)

    best = max(valid, key=score, default=None)
    return best if best is not None and score(best) >= 0.6 else None


def unknown_environment(cls: type[SectionSettings]) -> list[str]:
    """A problem for each HOMELAB_<SECTION>__* variable that names no setting (misspelt)."""
    prefix = f"{ENV_PREFIX}{cls.section.upper()}__"
    valid = _env_names(cls, prefix)
    problems = []
    for var in sorted(os.environ):
        if not var.upper().startswith(prefix):
            continue
        if _env_known(cls, var[len(prefix):].split("__")):
            continue
        near = _nearest(var.upper()[len(prefix) :], [v[len(prefix) :] for v in valid])
        hint = f"did you mean {prefix}{near}?" if near else "see deploy/homelab.example.toml"
        problems.append(f"environment variable {var}: no such setting ({hint})")
    return problems


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
