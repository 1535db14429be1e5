"""The validated settings as plain frozen dataclasses, for the long-running process.

pydantic-settings validates the configuration (exporter/settings.py), but importing it costs
about 25 MB of resident memory, more than the whole agent should use. `homelab-exporter run`
therefore validates, converts the result to `RuntimeConfig`, and re-executes itself as
`python -m exporter.serve`, handing over the JSON through a pipe (secrets never appear in argv
or the environment). The serving process never imports pydantic.

Example::

    config = RuntimeConfig.from_settings(load_settings(ExporterSettings))
    same = RuntimeConfig.from_json(config.to_json())
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from exporter import schema


class SettingsModel(Protocol):
    """What RuntimeConfig needs of ExporterSettings (kept structural: no pydantic import here)."""

    def model_dump(self) -> dict[str, Any]:
        """The settings as plain data."""
        ...


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    """[exporter.influx], validated."""

    enabled: bool = False
    url: str = "http://127.0.0.1:8086"
    api: str = "v1"
    database: str = "telegraf"
    retention_policy: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    org: str = ""
    bucket: str = ""
    token: str = field(default="", repr=False)
    interval_seconds: float = 10.0
    timeout_seconds: float = 10.0
    batch_size: int = 5000
    spool_dir: str = "var/exporter/spool"
    spool_max_bytes: int = 64 * 1024 * 1024
    gzip: bool = True
    create_database: bool = True
    max_backoff_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """[exporter], validated."""

    listen_address: str = "0.0.0.0"  # noqa: S104 - scraped from other hosts
    port: int = 9101
    hostname: str = "localhost"
    procfs_path: str = "/proc"
    sysfs_path: str = "/sys"
    rootfs_path: str = "/"
    log_level: str = "INFO"
    filesystem_timeout_seconds: float = 5.0
    slow_refresh_seconds: float = 15.0
    filesystem_mount_points_exclude: str = schema.FS_MOUNT_POINTS_EXCLUDE
    filesystem_fs_types_exclude: str = schema.FS_TYPES_EXCLUDE
    diskstats_device_exclude: str = schema.DISK_DEVICE_EXCLUDE
    netdev_device_exclude: str = schema.NETWORK_DEVICE_EXCLUDE
    textfile_directory: str = ""
    influx: InfluxConfig = InfluxConfig()
    web_config_file: str | None = None
    web_max_requests: int = 40
    web_max_connections: int = 1024
    web_read_header_timeout_seconds: float = 10.0
    web_idle_timeout_seconds: float = 120.0

    @classmethod
    def from_settings(cls, settings: SettingsModel) -> RuntimeConfig:
        """Convert an ExporterSettings (secrets revealed, paths as strings)."""
        data = _plain(settings.model_dump())
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuntimeConfig:
        """Build from plain data (the output of `to_dict`)."""
        data = dict(data)
        influx = InfluxConfig(**data.pop("influx", {}))
        return cls(**data, influx=influx)

    @classmethod
    def from_json(cls, text: str) -> RuntimeConfig:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        """Plain data, secrets included: never log it."""
        return asdict(self)

    def to_json(self) -> str:
        """JSON, secrets included: never log it."""
        return json.dumps(self.to_dict())

    def secrets(self) -> list[str]:
        """Secret values, for the log redaction filter."""
        return [s for s in (self.influx.password, self.influx.token) if s]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    return value
