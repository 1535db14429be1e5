"""The exporter's settings: table [exporter] of the settings file, env HOMELAB_EXPORTER__*."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from exporter import schema
from homelab.settings import SectionSettings, http_url


class InfluxSettings(BaseModel):
    """Where and how to write points to InfluxDB ([exporter.influx])."""

    model_config = {"extra": "forbid"}

    enabled: bool = False
    url: str = "http://127.0.0.1:8086"
    api: Literal["v1", "v2"] = "v1"
    # v1 API (InfluxDB 1.x, /write?db=&rp=)
    database: str = "telegraf"
    retention_policy: str = ""
    username: str = ""
    password: SecretStr = SecretStr("")
    # v2 API (InfluxDB 2.x, 3.x and 1.8+, /api/v2/write)
    org: str = ""
    bucket: str = ""
    token: SecretStr = SecretStr("")
    interval_seconds: float = Field(10.0, gt=0)
    timeout_seconds: float = Field(10.0, gt=0)
    batch_size: int = Field(5000, gt=0)
    spool_dir: Path = Path("var/exporter/spool")
    spool_max_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024)
    gzip: bool = True
    create_database: bool = True  # v1: CREATE DATABASE when missing, as Telegraf does
    max_backoff_seconds: float = Field(60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)

    @model_validator(mode="after")
    def _api_needs(self) -> InfluxSettings:
        if self.enabled and self.api == "v2" and not (self.org and self.bucket):
            raise ValueError("the v2 API needs both org and bucket")
        return self


class ExporterSettings(SectionSettings, section="exporter"):
    """Settings of homelab-exporter."""

    listen_address: str = "0.0.0.0"  # noqa: S104 - an exporter is scraped from other hosts
    port: int = Field(9101, ge=1, le=65535)
    hostname: str = Field(default_factory=socket.gethostname)
    procfs_path: Path = Path("/proc")
    sysfs_path: Path = Path("/sys")
    rootfs_path: Path = Path("/")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    filesystem_timeout_seconds: float = Field(5.0, gt=0)
    slow_refresh_seconds: float = Field(15.0, gt=0)
    # node_exporter's flags of the same names (regexes; "" excludes nothing)
    filesystem_mount_points_exclude: str = schema.FS_MOUNT_POINTS_EXCLUDE
    filesystem_fs_types_exclude: str = schema.FS_TYPES_EXCLUDE
    diskstats_device_exclude: str = schema.DISK_DEVICE_EXCLUDE
    netdev_device_exclude: str = schema.NETWORK_DEVICE_EXCLUDE
    # node_exporter's --collector.textfile.directory: the *.prom files of this directory (a
    # glob pattern names several) are served at each scrape; "" reads none
    textfile_directory: str = ""
    influx: InfluxSettings = InfluxSettings()
    # the web server (exporter/http.py) and node_exporter's --web.config.file
    # (exporter/webconfig.py: TLS, basic auth), reloaded on SIGHUP
    web_config_file: Path | None = None
    web_max_requests: int = Field(40, ge=1, le=10_000)
    web_max_connections: int = Field(1024, ge=16, le=1_000_000)
    web_read_header_timeout_seconds: float = Field(10.0, gt=0)
    web_idle_timeout_seconds: float = Field(120.0, gt=0)

    @field_validator("web_config_file")
    @classmethod
    def _web_config(cls, v: Path | None) -> Path | None:
        if v is not None and str(v):
            from exporter.webconfig import WebConfigError, load_web_config

            try:
                load_web_config(v)
            except WebConfigError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator(
        "filesystem_mount_points_exclude",
        "filesystem_fs_types_exclude",
        "diskstats_device_exclude",
        "netdev_device_exclude",
    )
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return v
