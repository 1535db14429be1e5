"""The bot's settings: table [bot] of the settings file, env HOMELAB_BOT__*."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from homelab.settings import SectionSettings


class DiscordSettings(BaseModel):
    """Discord connection ([bot.discord]). Without a token the console face runs."""

    model_config = {"extra": "forbid"}

    token: SecretStr = SecretStr("")
    guild_ids: list[int] = []
    owner_ids: list[int] = []
    # Mentions are off by default; only these role ids may be pinged by the bot's messages.
    allowed_ping_role_ids: list[int] = []


class PrometheusSettings(BaseModel):
    """The Prometheus-compatible query API ([bot.prometheus])."""

    model_config = {"extra": "forbid"}

    url: str = "http://127.0.0.1:9090"
    # /status must answer within Discord's 3 s, so a query may take at most 2.9 s.
    timeout_seconds: float = Field(2.5, gt=0, le=2.9)
    rate_interval: str = Field("1m", pattern=r"^[0-9]+[smhd]$")
    bearer_token: SecretStr = SecretStr("")
    username: str = ""
    password: SecretStr = SecretStr("")
    headers: dict[str, str] = {}
    # Scrape jobs whose targets are hosts for /status even before any of them ever answered;
    # jobs that exported node_uname_info within the last day count without being named here.
    host_jobs: list[str] = []

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusSettings:
        if self.bearer_token.get_secret_value() and self.username:
            raise ValueError("set bearer_token or username/password, not both")
        return self


class WebSettings(BaseModel):
    """The bot's HTTP server: /healthz, /metrics and the Alertmanager webhook ([bot.web])."""

    model_config = {"extra": "forbid"}

    listen_address: str = "127.0.0.1"
    port: int = Field(9102, ge=0, le=65535)


class RoleGrant(BaseModel):
    """The Discord user ids and role ids given one role."""

    model_config = {"extra": "forbid"}

    user_ids: list[int] = []
    role_ids: list[int] = []


class RolesSettings(BaseModel):
    """Who is viewer, operator or admin ([bot.roles]); the bot owners are always admin."""

    model_config = {"extra": "forbid"}

    viewer: RoleGrant = RoleGrant()
    operator: RoleGrant = RoleGrant()
    admin: RoleGrant = RoleGrant()
    # Everyone else in the guild: "viewer" (may use /status) or "none" (may use nothing).
    default: Literal["none", "viewer"] = "viewer"


class BucketSettings(BaseModel):
    """A token bucket: `capacity` requests, refilled evenly over `per_seconds`."""

    model_config = {"extra": "forbid"}

    capacity: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


def _default_buckets() -> dict[str, BucketSettings]:
    return {
        "query": BucketSettings(capacity=6, per_seconds=30),
        "meta": BucketSettings(capacity=10, per_seconds=60),
        "admin": BucketSettings(capacity=5, per_seconds=60),
    }


class RateLimitSettings(BaseModel):
    """Per-user token buckets per class of command, and back-off after refusals."""

    model_config = {"extra": "forbid"}

    classes: dict[str, BucketSettings] = Field(default_factory=_default_buckets)
    backoff_after: int = Field(3, ge=1)
    backoff_base_seconds: float = Field(2.0, gt=0)
    backoff_max_seconds: float = Field(300.0, gt=0)


class BotSettings(SectionSettings, section="bot"):
    """Settings of homelab-bot."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    database_path: Path = Path("var/bot/homelab.sqlite3")
    # The console face writes each message's images here.
    image_dir: Path = Path("var/bot/images")
    discord: DiscordSettings = DiscordSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    web: WebSettings = WebSettings()
    roles: RolesSettings = RolesSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
