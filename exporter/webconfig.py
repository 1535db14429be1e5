"""node_exporter's web configuration file (exporter-toolkit format): TLS and basic auth.

The same YAML file node_exporter takes with `--web.config.file`, so users can reuse theirs::

    tls_server_config:
      cert_file: /etc/homelab/exporter.crt
      key_file: /etc/homelab/exporter.key
      min_version: TLS12                      # TLS10, TLS11, TLS12 (default), TLS13
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: /etc/homelab/clients-ca.crt
    basic_auth_users:
      prometheus: $2b$12$...                  # bcrypt hash (htpasswd -nBC 12 prometheus)

It is read in the serving process (no pydantic there, see exporter/config.py), at start-up and
again on SIGHUP; an error names the key and says what to change.

Example::

    web = load_web_config(Path("/etc/homelab/web.yml"))
    ctx = web.ssl_context()          # None without tls_server_config
    web.check_password("prometheus", "secret")
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

log = logging.getLogger(__name__)

# ssl and hashlib are imported where used: both load OpenSSL's libcrypto (3.5 MB resident),
# which a serving process without TLS and basic auth does not need (see exporter/serve.py).
# Values: names in ssl.TLSVersion.
TLS_VERSIONS = {"TLS10": "TLSv1", "TLS11": "TLSv1_1", "TLS12": "TLSv1_2", "TLS13": "TLSv1_3"}
# exporter-toolkit's client_auth_type values (Go's tls.ClientAuthType) that OpenSSL can do:
# "request a certificate but accept any, unverified" has no equivalent in Python's ssl module.
# Values: names in ssl.VerifyMode.
CLIENT_AUTH = {
    "NoClientCert": "CERT_NONE",
    "VerifyClientCertIfGiven": "CERT_OPTIONAL",
    "RequireAndVerifyClientCert": "CERT_REQUIRED",
}
UNSUPPORTED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
TLS_KEYS = {
    "cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version",
    # accepted and ignored: OpenSSL's choice applies (Go's names do not map onto OpenSSL's)
    "cipher_suites", "curve_preferences", "prefer_server_cipher_suites",
}  # fmt: skip
IGNORED_TLS_KEYS = ("cipher_suites", "curve_preferences", "prefer_server_cipher_suites")
TOP_KEYS = {"tls_server_config", "basic_auth_users", "http_server_config"}
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
# a valid hash of an unguessable password: unknown users cost one bcrypt check too, so that
# timing does not tell which user names exist (exporter-toolkit does the same)
_DUMMY_HASH = b"$2b$10$AF.I7qAhPGOqMUTe3H2u6.1v5qkLjnaK.DCSirmS.TrXVSdelgK3."


class WebConfigError(ValueError):
    """The web configuration file cannot be used; the message names the file and the key."""

    def __init__(self, path: Path | None, message: str) -> None:
        self.path = path
        where = f"web config file {path}" if path is not None else "web config"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """tls_server_config, validated (files exist and load)."""

    cert_file: Path
    key_file: Path
    min_version: str = "TLS12"
    max_version: str = ""
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class WebConfig:
    """A loaded web configuration: TLS (optional) and basic-auth users (optional)."""

    path: Path | None = None
    tls: TLSConfig | None = None
    users: dict[str, bytes] = field(default_factory=dict, repr=False)
    _context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    _ok_cache: set[bytes] = field(default_factory=set, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def auth_required(self) -> bool:
        """True when basic_auth_users is not empty."""
        return bool(self.users)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server-side TLS context, or None when TLS is off."""
        return self._context

    def cached_ok(self, user: str, password: str) -> bool:
        """True when this pair already passed bcrypt (cheap: no bcrypt, safe on the event loop)."""
        return _pair_key(user, password, self.users.get(user, b"")) in self._ok_cache

    def check_password(self, user: str, password: str) -> bool:
        """bcrypt check (slow by design: run it off the event loop); successes are cached."""
        import bcrypt

        hashed = self.users.get(user)
        key = _pair_key(user, password, hashed or b"")
        if hashed is not None and key in self._ok_cache:
            return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed or _DUMMY_HASH)
        except ValueError:  # a hash bcrypt cannot read (validated at load, but be safe)
            ok = False
        if ok and hashed is not None:
            with self._lock:
                if len(self._ok_cache) > 1000:
                    self._ok_cache.clear()
                self._ok_cache.add(key)
            return True
        return False


def _pair_key(user: str, password: str, hashed: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(user.encode() + b"\0" + password.encode() + b"\0" + hashed).digest()


def load_web_config(path: Path | None) -> WebConfig:
    """Read and validate a web config file; None or "" gives the empty config (no TLS, no auth)."""
    if path is None or str(path) == "":
        return WebConfig()
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise WebConfigError(path, f"cannot read it ({exc.strerror or exc}); fix the path "
                             "in [exporter] web_config_file") from None  # fmt: skip
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WebConfigError(path, f"not valid YAML ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebConfigError(path, "the top level must be a mapping (tls_server_config, "
                             "basic_auth_users)")  # fmt: skip
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise WebConfigError(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                             f"known: {', '.join(sorted(TOP_KEYS))}")  # fmt: skip
    tls = _tls(path, data.get("tls_server_config"))
    users = _users(path, data.get("basic_auth_users"))
    _http_server_config(path, data.get("http_server_config"))
    context = _context(path, tls) if tls is not None else None
    return WebConfig(path=path, tls=tls, users=users, _context=context)


def _relative(base: Path, value: Any, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise WebConfigError(base, f"tls_server_config.{key} must be a file path")
    p = Path(value)
    return p if p.is_absolute() else base.parent / p  # as exporter-toolkit: relative to the file


def _tls(path: Path, raw: Any) -> TLSConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise WebConfigError(path, "tls_server_config must be a mapping")
    if "cert" in raw or "key" in raw:  # exporter-toolkit's inline PEM: say what to use instead
        raise WebConfigError(path, "inline cert/key are not supported; use cert_file/key_file")
    unknown = set(raw) - TLS_KEYS
    if unknown:
        raise WebConfigError(path, f"unknown tls_server_config key(s) "
                             f"{', '.join(sorted(map(str, unknown)))}")  # fmt: skip
    for key in IGNORED_TLS_KEYS:
        if key in raw:
            log.warning("web config %s: tls_server_config.%s is ignored: OpenSSL's defaults "
                        "apply", path, key)  # fmt: skip
    if "cert_file" not in raw or "key_file" not in raw:
        raise WebConfigError(path, "tls_server_config needs both cert_file and key_file")
    versions = {}
    for key, default in (("min_version", "TLS12"), ("max_version", "")):
        value = raw.get(key, default) or ""
        if value and value not in TLS_VERSIONS:
            raise WebConfigError(path, f"tls_server_config.{key} {value!r} is not one of "
                                 f"{', '.join(TLS_VERSIONS)}")  # fmt: skip
        versions[key] = str(value)
    auth = raw.get("client_auth_type", "NoClientCert") or "NoClientCert"
    if auth in UNSUPPORTED_CLIENT_AUTH:
        raise WebConfigError(path, f"client_auth_type {auth} (accept any certificate without "
                             "verifying it) is not supported; use RequireAndVerifyClientCert "
                             "or VerifyClientCertIfGiven with client_ca_file")  # fmt: skip
    if auth not in CLIENT_AUTH:
        raise WebConfigError(path, f"client_auth_type {auth!r} is not one of "
                             f"{', '.join(CLIENT_AUTH)}")  # fmt: skip
    ca = raw.get("client_ca_file")
    ca_path = _relative(path, ca, "client_ca_file") if ca else None
    if auth != "NoClientCert" and ca_path is None:
        raise WebConfigError(path, f"client_auth_type {auth} needs client_ca_file")
    return TLSConfig(
        cert_file=_relative(path, raw["cert_file"], "cert_file"),
        key_file=_relative(path, raw["key_file"], "key_file"),
        min_version=versions["min_version"],
        max_version=versions["max_version"],
        client_auth_type=auth,
        client_ca_file=ca_path,
    )


def _context(path: Path, tls: TLSConfig) -> ssl.SSLContext:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.minimum_version = ssl.TLSVersion[TLS_VERSIONS[tls.min_version]]
        if tls.max_version:
            ctx.maximum_version = ssl.TLSVersion[TLS_VERSIONS[tls.max_version]]
    except ValueError as exc:
        raise WebConfigError(path, f"this OpenSSL refuses the TLS version range ({exc})") from None
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(path, f"cannot load cert_file {tls.cert_file} with key_file "
                             f"{tls.key_file}: {exc}") from None  # fmt: skip
    ctx.verify_mode = ssl.VerifyMode[CLIENT_AUTH[tls.client_auth_type]]
    if tls.client_ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=str(tls.client_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(path, f"cannot load client_ca_file {tls.client_ca_file}: "
                                 f"{exc}") from None  # fmt: skip
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _users(path: Path, raw: Any) -> dict[str, bytes]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise WebConfigError(path, "basic_auth_users must be a mapping of user name to bcrypt "
                             "hash")  # fmt: skip
    users: dict[str, bytes] = {}
    for user, hashed in raw.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise WebConfigError(path, f"basic_auth_users: {user!r} is not a valid user name")
        if not isinstance(hashed, str) or not hashed.startswith(BCRYPT_PREFIXES):
            # never echo the value: it may be a plain password pasted by mistake
            raise WebConfigError(path, f"basic_auth_users.{user} is not a bcrypt hash "
                                 "($2a$/$2b$/$2y$...); make one with htpasswd -nBC 12 "
                                 f"{user}")
        users[user] = hashed.encode()
    return users


def _http_server_config(path: Path, raw: Any) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict) or set(raw) - {"http2"}:
        raise WebConfigError(path, "http_server_config: only http2 is accepted (and ignored: "
                             "this server speaks HTTP/1.1); headers are not supported")  # fmt: skip
