"""A local fake of Discord's REST API, for wire tests of code built on discord.py.

Discord itself cannot run here, so this simulates the part of its HTTP API the bot uses
(log-in, application info, application command bulk overwrite and listing) and enforces the
documented limits of that part, so a payload Discord would refuse is refused here too:

- authentication: every request needs ``Authorization: Bot <token>`` with the configured
  token, else 401 (``{"message": "401: Unauthorized", "code": 0}``);
- application commands (discord-api-docs, interactions/application-commands): CHAT_INPUT names
  1-32 characters of ``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`` using the lowercase
  form of every cased letter, descriptions 1-100, at most 25 options and 25 choices per level,
  subcommand nesting rules, required options first, unique names, at most 8000 characters of
  names, descriptions and choice values per command, and at most 100 CHAT_INPUT (15 USER,
  15 MESSAGE) commands per scope -> 400 with Discord's error shapes (50035 Invalid Form Body,
  30032 too many commands);
- a guild the application is not installed in (no ``applications.commands`` scope) -> 403
  Missing Access (50001);
- rate limits (discord-api-docs, topics/rate-limits): per-route buckets announced through
  ``X-RateLimit-*`` headers and enforced, 50 requests/s globally, and 429s on demand
  (`rate_limit`), each 429 with a JSON ``retry_after``/``global`` body, ``Retry-After``,
  ``X-RateLimit-*`` headers and a ``Via`` header (discord.py reads a 429 without ``Via`` as a
  Cloudflare ban). Every 401, 403 and 429 is counted in `invalid_requests`.

Every answer has ``Content-Type: application/json`` exactly, which discord.py requires before
it parses a body. Every request is recorded in `requests`.

It also serves a minimal gateway (a websocket at `gateway_url`, announced by ``GET
/gateway/bot``): HELLO, then READY (no guilds) to an IDENTIFY with the right token (close 4004
otherwise), and heartbeat ACKs. With ``gateway_mode = "silent"`` it accepts the connection but
never says HELLO, so the client stays connecting. What happened is in `gateway_log`.

Point discord.py at it by overriding ``discord.http.Route.BASE`` (and, for the gateway,
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``) from the test only (monkeypatch
in-process, or the bootstrap line of a test's subprocess); the bot has no setting for either, so
no configuration can send its token anywhere but Discord.

Example::

    async with FakeDiscord(token="t0k3n", guild_ids=[111]) as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        fake.rate_limit("PUT", r"/guilds/111/commands$", retry_after=0.3)
        ...  # run the code under test
        assert [r.path for r in fake.requests_to("PUT")] == [fake.guild_commands_path(111)] * 2
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
import time
import unicodedata
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

API_VERSION = 10
APP_ID = 1100000000000000001
BOT_USER_ID = 1100000000000000002
OWNER_ID = 1100000000000000003

# Application command types and option types (discord-api-docs, application-commands).
CHAT_INPUT, USER, MESSAGE, PRIMARY_ENTRY_POINT = 1, 2, 3, 4
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
OPTION_TYPES = range(1, 12)
MAX_COMMANDS = {CHAT_INPUT: 100, USER: 15, MESSAGE: 15, PRIMARY_ENTRY_POINT: 1}
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_NAME = 32
MAX_DESCRIPTION = 100
MAX_COMMAND_CHARS = 8000
GLOBAL_RATE = 50  # requests per second per bot
_DEVANAGARI = range(0x0900, 0x0980)
_THAI = range(0x0E00, 0x0E80)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the fake received it, and the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int
    at: float  # time.monotonic() on arrival


@dataclass(slots=True)
class RateLimitRule:
    """Answer the next `times` requests matching method and path regex with a 429."""

    method: str
    path_re: re.Pattern[str]
    retry_after: float
    global_: bool
    times: int
    via: bool


@dataclass(slots=True)
class _Bucket:
    limit: int
    per: float
    hits: deque[float] = field(default_factory=deque)

    def take(self, now: float) -> tuple[bool, int, float]:
        """(allowed, remaining after this request, seconds until the window frees a slot)."""
        while self.hits and now - self.hits[0] >= self.per:
            self.hits.popleft()
        if len(self.hits) >= self.limit:
            return False, 0, self.per - (now - self.hits[0])
        self.hits.append(now)
        return True, self.limit - len(self.hits), self.per - (now - self.hits[0])


# -- application command validation (pure) -------------------------------------------------


def valid_chat_input_name(name: str) -> bool:
    """Discord's CHAT_INPUT naming rule, including 'use the lowercase form where there is one'."""
    if not 1 <= len(name) <= MAX_NAME:
        return False
    for ch in name:
        if ch in "-_'":
            continue
        cat = unicodedata.category(ch)
        if not (cat.startswith(("L", "N")) or ord(ch) in _DEVANAGARI or ord(ch) in _THAI):
            return False
        if ch.lower() != ch:
            return False
    return True


BAD_NAME = ("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
BAD_DESCRIPTION = ("BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_DESCRIPTION} in length.")
BAD_CHOICE = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
NOT_AN_OBJECT = ("MODEL_TYPE_CONVERT", "Must be an object.")
BAD_NESTING = ("APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Invalid sub-command nesting")
MIXED_OPTIONS = (
    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
    "Sub-command and sub-command group option types are mutually exclusive to all other types",
)
REQUIRED_ORDER = (
    "APPLICATION_COMMAND_OPTION_REQUIRED_ORDER",
    "Required options must be placed before non-required options",
)
DUPLICATE_OPTION = ("APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS", "Option name already exists")
DUPLICATE_COMMAND = (
    "APPLICATION_COMMANDS_DUPLICATE_NAME",
    "Application command names must be unique",
)
TOO_LARGE = ("APPLICATION_COMMAND_TOO_LARGE", f"Command exceeds maximum size ({MAX_COMMAND_CHARS})")


class _Errors:
    """Discord's nested error tree: {"0": {"name": {"_errors": [{code, message}]}}}."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: list[str], error: tuple[str, str]) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(key, {})
        node.setdefault("_errors", []).append({"code": error[0], "message": error[1]})


def _length(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, str) and lo <= len(value) <= hi


def _check_options(options: Any, path: list[str], errors: _Errors, depth: int) -> int:
    """Validate one level of options; returns the characters it counts toward 8000."""
    if not options:
        return 0
    if not isinstance(options, list):
        errors.add(path, ("MODEL_TYPE_CONVERT", "Must be an array."))
        return 0
    if len(options) > MAX_OPTIONS:
        errors.add(path, ("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_OPTIONS} or fewer in length."))
    kinds = {o.get("type") for o in options if isinstance(o, dict)}
    subs = kinds & {SUB_COMMAND, SUB_COMMAND_GROUP}
    if subs and kinds - subs:
        errors.add(path, MIXED_OPTIONS)
    chars = 0
    seen: set[str] = set()
    optional_seen = False
    for i, opt in enumerate(options):
        here = [*path, str(i)]
        if not isinstance(opt, dict):
            errors.add(here, NOT_AN_OBJECT)
            continue
        kind, name, desc = opt.get("type"), opt.get("name"), opt.get("description")
        if kind not in OPTION_TYPES:
            errors.add([*here, "type"], ("BASE_TYPE_CHOICES", "Value must be one of 1-11."))
        if not isinstance(name, str) or not valid_chat_input_name(name):
            errors.add([*here, "name"], BAD_NAME)
        elif name in seen:
            errors.add([*here, "name"], DUPLICATE_OPTION)
        else:
            seen.add(name)
        if not _length(desc, 1, MAX_DESCRIPTION):
            errors.add([*here, "description"], BAD_DESCRIPTION)
        chars += len(str(name or "")) + len(str(desc or ""))
        inner = opt.get("options") or []
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            # A group sits at the top and holds only sub-commands; a sub-command holds neither.
            allowed_inner = (
                {SUB_COMMAND}
                if kind == SUB_COMMAND_GROUP
                else set(OPTION_TYPES)
                - {
                    SUB_COMMAND,
                    SUB_COMMAND_GROUP,
                }
            )
            too_deep = depth > (0 if kind == SUB_COMMAND_GROUP else 1)
            if too_deep or any(isinstance(o, dict) and o.get("type") not in allowed_inner
                               for o in inner):  # fmt: skip
                errors.add([*here, "options"], BAD_NESTING)
            chars += _check_options(inner, [*here, "options"], errors, depth + 1)
            continue
        if opt.get("required"):
            if optional_seen:
                errors.add([*here, "required"], REQUIRED_ORDER)
        else:
            optional_seen = True
        choices = opt.get("choices") or []
        if len(choices) > MAX_CHOICES:
            errors.add(
                [*here, "choices"], ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            )
        for j, choice in enumerate(choices):
            choice = choice if isinstance(choice, dict) else {}
            cname, value = choice.get("name"), choice.get("value")
            if not _length(cname, 1, 100):
                errors.add([*here, "choices", str(j), "name"], BAD_CHOICE)
            if isinstance(value, str) and len(value) > 100:
                errors.add([*here, "choices", str(j), "value"], BAD_CHOICE)
            chars += len(str(cname or "")) + len(str(value))
    return chars


def validate_commands(payload: Any) -> tuple[int, dict[str, Any]] | None:
    """None if Discord would accept this bulk overwrite, else (status, error body)."""
    if not isinstance(payload, list):
        return 400, {"code": 50109, "message": "The request body contains invalid JSON."}
    counts: dict[int, int] = {}
    for cmd in payload:
        kind = cmd.get("type", CHAT_INPUT) if isinstance(cmd, dict) else CHAT_INPUT
        counts[kind] = counts.get(kind, 0) + 1
    for kind, n in counts.items():
        if kind in MAX_COMMANDS and n > MAX_COMMANDS[kind]:
            limit = MAX_COMMANDS[kind]
            message = f"Maximum number of application commands reached ({limit})"
            return 400, {"code": 30032, "message": message}
    errors = _Errors()
    names: set[tuple[int, str]] = set()
    for i, cmd in enumerate(payload):
        here = [str(i)]
        if not isinstance(cmd, dict):
            errors.add(here, NOT_AN_OBJECT)
            continue
        kind, name, desc = cmd.get("type", CHAT_INPUT), cmd.get("name"), cmd.get("description")
        if kind not in MAX_COMMANDS:
            errors.add([*here, "type"], ("BASE_TYPE_CHOICES", "Value must be one of 1-4."))
            continue
        if kind == CHAT_INPUT:
            if not isinstance(name, str) or not valid_chat_input_name(name):
                errors.add([*here, "name"], BAD_NAME)
            if not _length(desc, 1, MAX_DESCRIPTION):
                errors.add([*here, "description"], BAD_DESCRIPTION)
            chars = len(str(name or "")) + len(str(desc or ""))
            chars += _check_options(cmd.get("options"), [*here, "options"], errors, 0)
            if chars > MAX_COMMAND_CHARS:
                errors.add(here, TOO_LARGE)
        else:  # USER and MESSAGE: mixed case and spaces allowed, no description, no options
            if not _length(name, 1, MAX_NAME):
                errors.add([*here, "name"], BAD_NAME)
            if desc not in (None, "") or cmd.get("options"):
                errors.add(here, ("APPLICATION_COMMAND_INVALID", "Only CHAT_INPUT takes these"))
        if isinstance(name, str):
            if (kind, name) in names:
                errors.add([*here, "name"], DUPLICATE_COMMAND)
            names.add((kind, name))
    if errors.tree:
        return 400, {"code": 50035, "errors": errors.tree, "message": "Invalid Form Body"}
    return None


# -- the server -----------------------------------------------------------------------------


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py parses a body only under that exact content type.
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class FakeDiscord:
    """Discord's REST API on a free loopback port; see the module docstring for what it enforces."""

    def __init__(
        self,
        token: str,
        *,
        guild_ids: Iterable[int] = (),
        bucket_limit: int = 5,
        bucket_seconds: float = 1.0,
        global_rate: int = GLOBAL_RATE,
    ) -> None:
        self.token = token
        self.guild_ids = set(guild_ids)
        self.requests: list[Recorded] = []
        self.invalid_requests = 0
        # Commands as Discord stores them: None is the global scope, else a guild id.
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self._rules: list[RateLimitRule] = []
        self._buckets: dict[str, _Bucket] = {}
        self._bucket_limit = bucket_limit
        self._bucket_seconds = bucket_seconds
        self._global = _Bucket(global_rate, 1.0)
        self._ids = itertools.count(APP_ID + 1000)
        self._runner: web.AppRunner | None = None
        self.api_base = ""
        self.gateway_url = ""
        self.gateway_mode = "ready"  # or "silent": accept, never say HELLO
        # ("connect", query), ("identify", token accepted?), ("ready", session), ("closed", code)
        self.gateway_log: list[tuple[str, Any]] = []

    # -- life cycle ---------------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        """Listen on 127.0.0.1 (a free port); `api_base` is then the value for Route.BASE."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.api_base = f"http://127.0.0.1:{port}/api/v{API_VERSION}"
        self.gateway_url = f"ws://127.0.0.1:{port}/gateway"
        return self

    async def stop(self) -> None:
        """Close the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- test controls ------------------------------------------------------------------
    def rate_limit(
        self,
        method: str,
        path_regex: str,
        *,
        retry_after: float = 0.3,
        global_: bool = False,
        times: int = 1,
        via: bool = True,
    ) -> None:
        """Answer the next `times` matching requests with a 429 (without Via: a Cloudflare ban)."""
        self._rules.append(
            RateLimitRule(method.upper(), re.compile(path_regex), retry_after, global_, times, via)
        )

    def requests_to(self, method: str, path_regex: str = "") -> list[Recorded]:
        """The recorded requests with this method whose path matches the regex."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    def guild_commands_path(self, guild_id: int, app_id: int = APP_ID) -> str:
        """The path of a guild's application commands."""
        return f"/api/v{API_VERSION}/applications/{app_id}/guilds/{guild_id}/commands"

    def global_commands_path(self, app_id: int = APP_ID) -> str:
        """The path of the global application commands."""
        return f"/api/v{API_VERSION}/applications/{app_id}/commands"

    # -- request handling ----------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/gateway":  # the websocket authenticates in IDENTIFY, not headers
            return await self._gateway(request)
        body = _parse(await request.read())
        response = await self._answer(request, body, handler)
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.headers),
                body,
                response.status,
                time.monotonic(),
            )
        )
        if response.status in (401, 403, 429):
            self.invalid_requests += 1
        return response

    async def _answer(self, request: web.Request, body: Any, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _json(401, {"message": "401: Unauthorized", "code": 0})
        now = time.monotonic()
        allowed, _, reset = self._global.take(now)
        if not allowed:
            return self._too_many(reset, global_=True, bucket=None, via=True)
        key = self._bucket_key(request)
        for rule in self._rules:
            if (
                rule.times > 0
                and rule.method == request.method
                and rule.path_re.search(request.path)
            ):
                rule.times -= 1
                return self._too_many(
                    rule.retry_after, global_=rule.global_, bucket=key, via=rule.via
                )
        bucket = self._buckets.setdefault(key, _Bucket(self._bucket_limit, self._bucket_seconds))
        allowed, remaining, reset = bucket.take(now)
        if not allowed:
            return self._too_many(reset, global_=False, bucket=key, via=True)
        response: web.StreamResponse = await handler(request)
        response.headers.update(self._bucket_headers(key, remaining, reset))
        return response

    def _bucket_key(self, request: web.Request) -> str:
        # One bucket per route and major parameter (the guild), like Discord's.
        template = re.sub(r"/applications/\d+", "/applications/{id}", request.path)
        return f"{request.method}:{template}"

    def _bucket_headers(self, key: str, remaining: int, reset: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self._bucket_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset:.3f}",
            "X-RateLimit-Reset-After": f"{reset:.3f}",
            "X-RateLimit-Bucket": f"fake-{abs(hash(key)) % 10**12:x}",
        }

    def _too_many(
        self, retry_after: float, *, global_: bool, bucket: str | None, via: bool
    ) -> web.Response:
        if not via:  # what a Cloudflare ban looks like: no Via, no JSON
            return web.Response(status=429, text="error code: 1015", content_type="text/plain")
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "Via": "1.1 google",
            "X-RateLimit-Scope": "global" if global_ else "user",
        }
        if global_:
            headers["X-RateLimit-Global"] = "true"
        if bucket is not None:
            headers.update(self._bucket_headers(bucket, 0, retry_after))
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": global_,
        }
        return _json(429, body, headers)

    async def _dispatch(self, request: web.Request) -> web.Response:
        path = request.path
        prefix = f"/api/v{API_VERSION}"
        if not path.startswith(prefix + "/"):
            return _json(404, {"message": "404: Not Found", "code": 0})
        route = path[len(prefix) :]
        body = _parse(await request.read())  # aiohttp keeps the bytes the middleware read
        if request.method == "GET" and route == "/users/@me":
            return _json(200, self._bot_user())
        if request.method == "GET" and route == "/oauth2/applications/@me":
            return _json(200, self._app_info())
        if request.method == "GET" and route in ("/gateway", "/gateway/bot"):
            return _json(200, self._gateway_info())
        m = re.fullmatch(r"/applications/(\d+)(?:/guilds/(\d+))?/commands", route)
        if m:
            if int(m[1]) != APP_ID:
                return _json(403, {"message": "Missing Access", "code": 50001})
            guild = int(m[2]) if m[2] else None
            if guild is not None and guild not in self.guild_ids:
                return _json(403, {"message": "Missing Access", "code": 50001})
            if request.method == "GET":
                return _json(200, self.commands.get(guild, []))
            if request.method == "PUT":
                return self._bulk_overwrite(guild, body)
            return _json(405, {"message": "405: Method Not Allowed", "code": 0})
        return _json(404, {"message": "404: Not Found", "code": 0})

    def _bulk_overwrite(self, guild: int | None, payload: Any) -> web.Response:
        problem = validate_commands(payload)
        if problem is not None:
            return _json(*problem)
        old = {(c["type"], c["name"]): c for c in self.commands.get(guild, [])}
        stored = []
        for cmd in payload:
            kind = cmd.get("type", CHAT_INPUT)
            prev = old.get((kind, cmd["name"]))
            entry = {
                "id": prev["id"] if prev else str(next(self._ids)),
                "application_id": str(APP_ID),
                "version": str(next(self._ids)),
                "type": kind,
                "name": cmd["name"],
                "description": cmd.get("description", ""),
                "options": cmd.get("options", []),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "dm_permission": cmd.get("dm_permission", True),
                "nsfw": cmd.get("nsfw", False),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types", [0]),
            }
            if guild is not None:
                entry["guild_id"] = str(guild)
            stored.append(entry)
        self.commands[guild] = stored
        return _json(200, stored)

    # -- the gateway ----------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        self.gateway_log.append(("connect", dict(request.query)))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if self.gateway_mode == "ready":
            await self._say(ws, 10, {"heartbeat_interval": 41250})
        seq = 0
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == 1:  # heartbeat
                await self._say(ws, 11, None)
            elif op == 2:  # identify
                accepted = payload.get("d", {}).get("token") == self.token
                self.gateway_log.append(("identify", accepted))
                if not accepted:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                seq += 1
                session = f"fake-session-{seq}"
                await self._say(ws, 0, self._ready(session), seq=seq, event="READY")
                self.gateway_log.append(("ready", session))
        self.gateway_log.append(("closed", ws.close_code))
        return ws

    @staticmethod
    async def _say(
        ws: web.WebSocketResponse, op: int, data: Any, *, seq: int | None = None, event: str = ""
    ) -> None:
        await ws.send_str(json.dumps({"op": op, "d": data, "s": seq, "t": event or None}))

    def _ready(self, session: str) -> dict[str, Any]:
        return {
            "v": API_VERSION,
            "user": self._bot_user(),
            "guilds": [],
            "session_id": session,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APP_ID), "flags": 0},
        }

    def _gateway_info(self) -> dict[str, Any]:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": str(BOT_USER_ID),
            "username": "homelab-fake",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "verified": True,
            "flags": 0,
            "mfa_enabled": False,
        }

    def _app_info(self) -> dict[str, Any]:
        return {
            "id": str(APP_ID),
            "name": "homelab-fake",
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": {
                "id": str(OWNER_ID),
                "username": "owner",
                "discriminator": "0",
                "avatar": None,
            },
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
        }
