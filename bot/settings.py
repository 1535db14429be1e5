"""The bot's settings: table [bot] of the settings file, env HOMELAB_BOT__*."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator

from bot.domain.vault import check_name, reference
from homelab.settings import SectionSettings, http_url


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
    # How long Prometheus keeps data (its --storage.tsdb.retention.time, 15 days by default): a
    # chart over a longer range goes to [bot.influxdb] when it is enabled, else it is clipped.
    retention_seconds: float = Field(15 * 86400.0, gt=0)
    # The scrape interval: a chart never asks for points closer together than this.
    scrape_interval_seconds: float = Field(15.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusSettings:
        if self.bearer_token.get_secret_value() and self.username:
            raise ValueError("set bearer_token or username/password, not both")
        return self


class InfluxDBSettings(BaseModel):
    """InfluxDB as a chart source for long ranges ([bot.influxdb]): InfluxQL over `/query`
    on 1.x, the v1 compatibility API of 2.x (needs a DBRP mapping) and of 3.x."""

    model_config = {"extra": "forbid"}

    enabled: bool = False
    url: str = "http://127.0.0.1:8086"
    # 1.x: the database; 2.x: the database of the bucket's DBRP mapping; 3.x: the database.
    database: str = "telegraf"
    retention_policy: str = ""
    # A token (`Authorization: Token ...`: 2.x, 3.x) or username/password (basic), not both.
    token: SecretStr = SecretStr("")
    username: str = ""
    password: SecretStr = SecretStr("")
    timeout_seconds: float = Field(2.5, gt=0, le=2.9)
    # influxd's RPC service ([bind-address] in influxdb.conf), which `influxd backup` uses.
    rpc_address: str = Field("127.0.0.1:8088", pattern=r"^[^\s/]+:[0-9]+$")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)

    @model_validator(mode="after")
    def _one_auth(self) -> InfluxDBSettings:
        if self.token.get_secret_value() and self.username:
            raise ValueError("set token or username/password, not both")
        return self


class ChartsSettings(BaseModel):
    """How charts are drawn and queried ([bot.charts])."""

    model_config = {"extra": "forbid"}

    # The plot's width in pixels: a range query asks for at most one point per pixel.
    plot_width_px: int = Field(1200, gt=0)
    # Range results are kept this many at most (each for about one step).
    cache_entries: int = Field(256, gt=0)


class HostsSettings(BaseModel):
    """How /status and /threshold name hosts ([bot.hosts])."""

    model_config = {"extra": "forbid"}

    # Extra names for hosts, each an instance as Prometheus shows it (host:port). The alias is
    # also the name /status shows for that host, e.g. {nas = "192.168.1.5:9101"}.
    aliases: dict[str, str] = {}
    # The file_sd file /host add | remove keeps (a glob of deploy/prometheus.yml matches it).
    file_sd: Path = Path("deploy/file_sd/local/homelab-exporter-bot.yml")

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: dict[str, str]) -> dict[str, str]:
        folded: dict[str, str] = {}
        for alias, instance in v.items():
            if not alias.strip() or not instance.strip():
                raise ValueError(
                    f"alias {alias!r} = {instance!r}: neither the name nor the instance may be "
                    "empty"
                )
            if alias.strip() != alias or instance.strip() != instance:
                raise ValueError(f"alias {alias!r} = {instance!r}: remove the surrounding spaces")
            key = alias.casefold()
            if key in folded:
                raise ValueError(
                    f"aliases {folded[key]!r} and {alias!r} differ only in case; names are "
                    "matched case-insensitively, keep one"
                )
            folded[key] = alias
        return v


class WebSettings(BaseModel):
    """The bot's HTTP server: /healthz, /metrics and the Alertmanager webhook ([bot.alerts])."""

    model_config = {"extra": "forbid"}

    listen_address: str = "127.0.0.1"
    port: int = Field(9102, ge=0, le=65535)


class AlertRouteSettings(BaseModel):
    """One route of [bot.alerts]: label matchers -> where the alert goes.

    Matchers use Alertmanager's syntax (`severity="critical"`, `instance=~"nas.*"`, `job!="x"`,
    `alertname!~"Watchdog|Info.*"`); every matcher must match. The first matching route wins.
    """

    model_config = {"extra": "forbid"}

    matchers: list[str] = []
    # A channel the bot posts to (needs a Discord token); 0 = the default channel.
    channel_id: int = Field(0, ge=0)
    # Or a Discord webhook URL read from this file (no bot needed; no buttons on its messages),
    # or kept in the vault: webhook_url = "secret:<name>" (homelab-bot secrets set <name>).
    webhook_url_file: Path | None = None
    webhook_url: SecretStr = SecretStr("")
    # The vault secret webhook_url names (set when it is resolved): the outbox keeps this
    # name, never the URL, as the message's target.
    _secret_name: str = PrivateAttr("")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, v: SecretStr) -> SecretStr:
        value = v.get_secret_value()
        if value:
            name = reference(value)
            if name is None:
                raise ValueError(
                    "webhook_url takes a vault reference, secret:<name> (the URL is a secret: "
                    "homelab-bot secrets set <name>), or use webhook_url_file"
                )
            check_name(name)
        return v

    @model_validator(mode="after")
    def _one_webhook(self) -> AlertRouteSettings:
        if self.webhook_url_file is not None and self.webhook_url.get_secret_value():
            raise ValueError("set webhook_url_file or webhook_url, not both")
        return self

    @property
    def webhook_secret(self) -> str:
        """The vault secret holding this route's webhook URL ('' for none)."""
        return self._secret_name or (reference(self.webhook_url.get_secret_value()) or "")

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, v: list[str]) -> list[str]:
        from bot.domain.alerts.routing import MatcherError, parse_matcher

        for m in v:
            try:
                parse_matcher(m)
            except MatcherError as exc:
                raise ValueError(str(exc)) from None
        return v


class QuietHoursSettings(BaseModel):
    """Hours during which only critical alerts ping ([bot.alerts.quiet_hours])."""

    model_config = {"extra": "forbid"}

    start: str = Field("", pattern=r"^$|^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field("", pattern=r"^$|^([01][0-9]|2[0-3]):[0-5][0-9]$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name such as Europe/Berlin or UTC"
            ) from None
        return v

    @model_validator(mode="after")
    def _both(self) -> QuietHoursSettings:
        if bool(self.start) != bool(self.end):
            raise ValueError("set both start and end (HH:MM), or neither")
        return self


class AlertsSettings(BaseModel):
    """Alert delivery ([bot.alerts]): the webhook receiver, routing, pings and the outbox."""

    model_config = {"extra": "forbid"}

    # The receiver POST /webhooks/alertmanager on the web face. Alertmanager authenticates
    # with a bearer token (`credentials_file`, the file deploy/alertmanager.yml sends) or basic
    # auth (`username` and `password_file`). Without either the receiver refuses to start,
    # unless allow_unauthenticated = true.
    # Or the same in the vault: credentials = "secret:<name>", password = "secret:<name>".
    credentials_file: Path | None = None
    credentials: SecretStr = SecretStr("")
    username: str = ""
    password_file: Path | None = None
    password: SecretStr = SecretStr("")
    allow_unauthenticated: bool = False
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    # Failed authentications per source address per minute before it gets 429s.
    auth_failures_per_minute: int = Field(10, gt=0)
    # Where alerts go when no route matches (a channel id; 0 = the console face only).
    default_channel_id: int = Field(0, ge=0)
    routes: list[AlertRouteSettings] = []
    # Role ids pinged per severity, e.g. {critical = [123], warning = [456]}; each must also
    # be in [bot.discord] allowed_ping_role_ids.
    ping_role_ids: dict[str, list[int]] = {}
    quiet_hours: QuietHoursSettings = QuietHoursSettings()
    # Where a dead-lettered alert is reported, once (0 = log only).
    admin_channel_id: int = Field(0, ge=0)
    # Post a short reply under the original message when an alert resolves.
    resolved_reply: bool = False
    # Alertmanager's API, for silences and /alerts.
    alertmanager_url: str = "http://127.0.0.1:9093"
    alertmanager_timeout_seconds: float = Field(2.5, gt=0, le=2.9)
    # The delivery worker's retries of 5xx and network errors: exponential back-off bounds.
    retry_base_seconds: float = Field(1.0, gt=0)
    retry_max_seconds: float = Field(300.0, gt=0)
    # Graphs: how much history the alert graph shows.
    graph_window_seconds: float = Field(3600.0, gt=0)

    @field_validator("alertmanager_url")
    @classmethod
    def _am_url(cls, v: str) -> str:
        return http_url(v)

    @model_validator(mode="after")
    def _auth(self) -> AlertsSettings:
        bearer = self.credentials_file is not None or bool(self.credentials.get_secret_value())
        password = self.password_file is not None or bool(self.password.get_secret_value())
        if self.credentials_file is not None and self.credentials.get_secret_value():
            raise ValueError("set credentials_file or credentials, not both")
        if self.password_file is not None and self.password.get_secret_value():
            raise ValueError("set password_file or password, not both")
        if bearer and self.username:
            raise ValueError(
                "set credentials (bearer) or username/password (basic auth), not both"
            )
        if bool(self.username) != password:
            raise ValueError("basic auth needs both username and password_file (or password)")
        return self

    def authenticated(self) -> bool:
        """Whether the receiver checks who calls it."""
        bearer = self.credentials_file is not None or bool(self.credentials.get_secret_value())
        return bearer or bool(self.username)


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


class AuditSettings(BaseModel):
    """The audit log's hash chain ([bot.audit]).

    Without a key the chain is plain SHA-256: it reveals edits by anyone who does not
    recompute it, but someone with write access to the database can rewrite rows, recompute
    every hash and the head, and `audit verify` passes. With a key (kept where the database's
    writers cannot read it) the chain is HMAC-SHA256 and such a rewrite is detected.
    """

    model_config = {"extra": "forbid"}

    key: SecretStr = SecretStr("")
    # A file holding the key (surrounding whitespace ignored), instead of `key`.
    key_file: Path | None = None
    # `homelab-bot run` logs the head (row and hash) this often and exports its row as
    # homelab_bot_audit_head_row: a copy outside the database (docs/bot.md).
    head_report_seconds: float = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _one_key(self) -> AuditSettings:
        if self.key.get_secret_value() and self.key_file is not None:
            raise ValueError("set key or key_file, not both")
        if self.key_file is not None:
            try:
                text = self.key_file.read_text()
            except OSError as exc:
                raise ValueError(
                    f"cannot read key_file {self.key_file}: {exc.strerror or exc}; create it "
                    "(e.g. `head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE`) or unset it"
                ) from None
            _check_key(text.strip(), f"key_file {self.key_file}")
        elif self.key.get_secret_value() and reference(self.key.get_secret_value()) is None:
            _check_key(self.key.get_secret_value(), "key")
        return self

    def secret(self) -> bytes:
        """The HMAC key as bytes; empty when none is set (plain SHA-256)."""
        if self.key_file is not None:
            return self.key_file.read_text().strip().encode()
        return self.key.get_secret_value().encode()


def _check_key(key: str, where: str) -> None:
    if len(key) < 16:
        raise ValueError(
            f"{where} holds {len(key)} characters; use at least 16 random ones "
            "(e.g. `head -c 32 /dev/urandom | base64`)"
        )


class ReportsSettings(BaseModel):
    """Scheduled reports ([bot.reports], docs/reports.md): when and where they go."""

    model_config = {"extra": "forbid"}

    enabled: bool = False
    # The channel the scheduled reports are posted in (0: the alerts' default channel).
    channel_id: int = Field(0, ge=0)
    timezone: str = "UTC"
    # Local times (HH:MM) of the daily and the weekly report; "" turns one off.
    daily_at: str = Field("08:00", pattern=r"^$|^([01][0-9]|2[0-3]):[0-5][0-9]$")
    weekly_at: str = Field("08:00", pattern=r"^$|^([01][0-9]|2[0-3]):[0-5][0-9]$")
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    # A report that came due while the bot was down is sent at start-up if it is at most this
    # late; an older one is skipped.
    grace_seconds: float = Field(6 * 3600.0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return QuietHoursSettings._tz(v)


class VaultSettings(BaseModel):
    """The secrets vault ([bot.vault]): the key file; the secrets live in the database."""

    model_config = {"extra": "forbid"}

    # One Fernet key per line, primary first; mode 0600, owned by the bot's user. Unset: the
    # file vault.key beside the settings file (the working directory without one).
    key_file: Path | None = None


class BackupSettings(BaseModel):
    """Backups ([bot.backup]): where, encrypted how, kept how long, taken when."""

    model_config = {"extra": "forbid"}

    # Unset: backups/ beside [bot] database_path.
    directory: Path | None = None
    # A passphrase, normally "secret:backup-key" (homelab-bot secrets set backup-key): the
    # archives are then .tar.gz.enc and restore needs the same key. Empty: not encrypted.
    encryption_key: SecretStr = SecretStr("")
    # Retention after each backup: the newest archive of each of the last N days / weeks.
    keep_daily: int = Field(7, ge=1)
    keep_weekly: int = Field(4, ge=0)
    # When `homelab-bot run` takes one (cron: minute hour day month weekday); "" for never.
    schedule: str = "30 3 * * *"
    timezone: str = "UTC"
    # A scheduled backup missed while the bot was down is made up at start-up within this.
    missed_grace_hours: float = Field(6.0, ge=0)

    @model_validator(mode="after")
    def _schedule(self) -> BackupSettings:
        if self.schedule:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.schedule, timezone=self.timezone)
            except (ValueError, LookupError) as exc:
                raise ValueError(
                    f"schedule {self.schedule!r} / timezone {self.timezone!r}: {exc} (cron: "
                    "minute hour day month weekday, e.g. \"30 3 * * *\"; \"\" for none)"
                ) from None
        return self

    def folder(self, database_path: Path) -> Path:
        """The archives' folder."""
        return self.directory or database_path.parent / "backups"


class ProjectsSettings(BaseModel):
    """Projects and tasks ([bot.projects], docs/projects.md)."""

    model_config = {"extra": "forbid"}

    # The guild's time zone: due days (fri, tomorrow, +3d) and the digest's day are read in it.
    timezone: str = "UTC"
    # The channel the daily overdue digest goes to (0: no digest).
    digest_channel_id: int = Field(0, ge=0)
    # When the digest is posted, in `timezone` (hour of the day).
    digest_hour: int = Field(9, ge=0, le=23)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone; use a name like Europe/Berlin"
            ) from None
        return value


class WelcomeLink(BaseModel):
    """A link button on the welcome dashboard."""

    model_config = {"extra": "forbid"}

    label: str = Field(min_length=1, max_length=80)
    url: str

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class WelcomeSettings(BaseModel):
    """The welcome dashboard ([bot.dashboards.welcome], docs/dashboards.md)."""

    model_config = {"extra": "forbid"}

    title: str = Field("Welcome", min_length=1, max_length=256)
    # Discord markdown, shown as it is (it is the server's own text), above the live counts.
    text: str = Field("", max_length=3500)
    # Link buttons; Grafana, Prometheus and Alertmanager are added from their settings.
    links: list[WelcomeLink] = Field(default_factory=list, max_length=17)
    # Link buttons to the stack; "" leaves Grafana out and takes Prometheus' and
    # Alertmanager's from [bot.prometheus] url and [bot.alerts] alertmanager_url.
    grafana_url: str = ""
    prometheus_url: str = ""
    alertmanager_url: str = ""
    # The role "I accept the rules" grants (0: no button). The bot needs Manage Roles, and
    # its own role above this one.
    accept_role_id: int = Field(0, ge=0)


class DashboardsSettings(BaseModel):
    """Live dashboards ([bot.dashboards], docs/dashboards.md)."""

    model_config = {"extra": "forbid"}

    # Refreshes per channel per 5-second tick: the rest wait for the next tick.
    per_channel_per_tick: int = Field(2, ge=1, le=5)
    welcome: WelcomeSettings = WelcomeSettings()


class BotSettings(SectionSettings, section="bot"):
    """Settings of homelab-bot."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    database_path: Path = Path("var/bot/homelab.sqlite3")
    # The console face writes each message's images here.
    image_dir: Path = Path("var/bot/images")
    discord: DiscordSettings = DiscordSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    influxdb: InfluxDBSettings = InfluxDBSettings()
    charts: ChartsSettings = ChartsSettings()
    hosts: HostsSettings = HostsSettings()
    web: WebSettings = WebSettings()
    roles: RolesSettings = RolesSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    audit: AuditSettings = AuditSettings()
    alerts: AlertsSettings = AlertsSettings()
    vault: VaultSettings = VaultSettings()
    reports: ReportsSettings = ReportsSettings()
    backup: BackupSettings = BackupSettings()
    projects: ProjectsSettings = ProjectsSettings()
    dashboards: DashboardsSettings = DashboardsSettings()

    def webhook_tokens(self) -> list[str]:
        """The token part of each route's webhook URL from the vault: discord.py logs webhook
        requests under its own base URL, so the whole URL alone would not be redacted."""
        return [
            r.webhook_url.get_secret_value().rstrip("/").rsplit("/", 1)[-1]
            for r in self.alerts.routes
            if r.webhook_url.get_secret_value() and r._secret_name
        ]

    def complete(self, path: Path | None, *, resolve_secrets: bool = True) -> list[str]:
        """Default the key file beside `path`; resolve every `secret:<name>` from the vault."""
        if self.vault.key_file is None:
            base = path.absolute().parent if path is not None else Path()
            # A copy: the default VaultSettings() instance may be shared between loads.
            self.vault = self.vault.model_copy(update={"key_file": base / "vault.key"})
        assert self.vault.key_file is not None
        if not resolve_secrets:
            return []
        return self.resolve()

    def resolve(self, only: Collection[str] | None = None) -> list[str]:
        """Read each `secret:<name>` setting from the vault (`only`: just these dotted names,
        e.g. "bot.audit.key"); the problems, one sentence per setting."""
        assert self.vault.key_file is not None
        from bot.adapters.vault import KeyFile, SecretMissing, Vault, VaultError

        refs = [r for r in _references(self, "bot") if only is None or r[2] in only]
        if not refs:
            # No secret needed, but a key file others can read must still stop the bot.
            try:
                if self.vault.key_file.exists():
                    KeyFile(self.vault.key_file).check()
            except VaultError as exc:
                return [f"bot.vault.key_file: {exc}"]
            return []

        if refs and not self.database_path.exists():
            return [
                f"{where}: secret {name!r} is not in the vault (the database "
                f"{self.database_path} does not exist yet); set it with `homelab-bot secrets "
                f"set {name}`"
                for _, _, where, name in refs
            ]
        try:
            vault = Vault.open(self.database_path, self.vault.key_file)
        except VaultError as exc:
            return [f"bot.vault.key_file: {exc}"]
        problems = []
        try:
            for model, field_name, where, name in refs:
                try:
                    setattr(model, field_name, SecretStr(vault.get(name)))
                    if isinstance(model, AlertRouteSettings):
                        model._secret_name = name
                except SecretMissing:
                    problems.append(
                        f"{where}: secret {name!r} is not in the vault; set it with "
                        f"`homelab-bot secrets set {name}` or give the value itself"
                    )
                except VaultError as exc:
                    problems.append(f"{where}: {exc}")
        finally:
            vault.close()
        if not problems and self.audit.key.get_secret_value():
            try:
                _check_key(self.audit.key.get_secret_value(), "key")
            except ValueError as exc:
                problems.append(f"bot.audit.key: {exc}")
        return problems


def _references(model: BaseModel, where: str) -> list[tuple[BaseModel, str, str, str]]:
    """(model, field, dotted setting, secret name) of every SecretStr set to `secret:<name>`."""
    found: list[tuple[BaseModel, str, str, str]] = []
    for name in type(model).model_fields:
        value: Any = getattr(model, name)
        if isinstance(value, SecretStr):
            secret = reference(value.get_secret_value())
            if secret is not None:
                found.append((model, name, f"{where}.{name}", secret))
        elif isinstance(value, BaseModel):
            found.extend(_references(value, f"{where}.{name}"))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found.extend(_references(item, f"{where}.{name}[{i}]"))
    return found
