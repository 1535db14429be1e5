"""The bot's settings: table [bot] of the settings file, env HOMELAB_BOT__*."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from homelab.settings import SectionSettings


class DiscordSettings(BaseModel):
    """Discord connection ([bot.discord]). Without a token the console face runs."""

    model_config = {"extra": "forbid"}

    token: SecretStr = SecretStr("")
    guild_ids: list[int] = []
    owner_ids: list[int] = []


class PrometheusSettings(BaseModel):
    """The Prometheus-compatible query API ([bot.prometheus])."""

    model_config = {"extra": "forbid"}

    url: str = "http://127.0.0.1:9090"
    timeout_seconds: float = Field(2.5, gt=0)
    bearer_token: SecretStr = SecretStr("")
    username: str = ""
    password: SecretStr = SecretStr("")
    headers: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class WebSettings(BaseModel):
    """The bot's HTTP server: /healthz, /metrics and the Alertmanager webhook ([bot.web])."""

    model_config = {"extra": "forbid"}

    listen_address: str = "127.0.0.1"
    port: int = Field(9102, ge=0, le=65535)


class BotSettings(SectionSettings, section="bot"):
    """Settings of homelab-bot."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    database_path: Path = Path("var/bot/homelab.sqlite3")
    image_dir: Path = Path("var/bot/images")
    discord: DiscordSettings = DiscordSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    web: WebSettings = WebSettings()
