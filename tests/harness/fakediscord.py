"""A local fake of Discord's REST API, for wire tests of code built on discord.py.

Discord itself cannot run here, so this simulates the part of its HTTP API the bot uses
(log-in, application info, application command bulk overwrite and listing, channel messages
and webhooks) and enforces the documented limits of that part, so a payload Discord would
refuse is refused here too:

- authentication: every request needs ``Authorization: Bot <token>`` with the configured
  token, else 401 (``{"message": "401: Unauthorized", "code": 0}``), except the webhook routes
  that carry a webhook token in their path (that token is their credential);
- application commands (discord-api-docs, interactions/application-commands): CHAT_INPUT names
  1-32 characters of ``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`` using the lowercase
  form of every cased letter, descriptions 1-100, at most 25 options and 25 choices per level,
  subcommand nesting rules, required options first, unique names, at most 8000 characters of
  names, descriptions and choice values per command, and at most 100 CHAT_INPUT (15 USER,
  15 MESSAGE) commands per scope -> 400 with Discord's error shapes (50035 Invalid Form Body,
  30032 too many commands);
- a guild the application is not installed in (no ``applications.commands`` scope) -> 403
  Missing Access (50001);
- channels (``channel_ids=[...]`` or `add_channel`): ``POST /channels/{id}/messages`` (JSON, or
  multipart/form-data with ``payload_json`` and ``files[n]`` parts as discord.py uploads),
  ``PATCH``, ``GET`` and ``DELETE /channels/{id}/messages/{mid}``. An unknown channel is 404
  Unknown Channel (10003), a `forbid_channel` one 403 Missing Access (50001), an unknown
  message 404 Unknown Message (10008), editing a webhook's message through the channel route
  403 (50005). An edit
  replaces only the fields it names (content, embeds, components, attachments: listed ids are
  kept, new files added), as Discord does; the message before each edit is kept in `history`.
  ``message_reference`` stores the reply link (a reference to an unknown message is 50035 on
  ``message_reference`` unless ``fail_if_not_exists`` is false). The answer is a message object
  discord.py parses: string snowflakes, ``author`` (the bot user, or the webhook), timestamps,
  ``nonce``, attachments with ``filename``/``size``/``url``, ``referenced_message``;
- webhooks (`add_webhook`): ``POST /webhooks/{id}/{token}`` answers the message with
  ``?wait=true`` (discord.py sends ``wait=1``) and 204 without; ``PATCH``, ``GET`` and
  ``DELETE /webhooks/{id}/{token}/messages/{mid}``. A wrong token is 401 Invalid Webhook Token
  (50027), an unknown id 404 Unknown Webhook (10015), a message of another webhook 404 (10008);
- message limits (discord-api-docs resources/message, components/reference; `validate_message`):
  content 2000; 10 embeds; 6000 characters over all embeds (title, description, field names and
  values, footer text, author name); title 256, description 4096, 25 fields, field name 256 and
  value 1024 (both required), footer 2048, author name 256; 5 action rows of at most 5 buttons
  or one select; custom_id 1-100 and unique in the message, button label 80, a link button
  needs a ``url`` and takes no custom_id; 10 attachments; nonce 25 characters -> 400 Invalid
  Form Body (50035) whose ``errors`` tree names the field (``embeds.0.fields.3.value``; codes
  are Discord's ``BASE_TYPE_*`` where the docs give them, descriptive names otherwise). A file
  over 10 MiB -> 413 Request entity too large (40005). Nothing to show (no content, embeds,
  files or components, also after an edit) -> 400 Cannot send an empty message (50006);
- nonces (Create Message): with ``enforce_nonce: true`` a nonce the same author used in the
  channel within the last 5 minutes answers 200 with the EXISTING message and creates nothing
  (discord.py sends a random nonce with ``enforce_nonce`` on every ``send``, so its retries are
  idempotent here as on Discord); a nonce without it is only echoed back;
- rate limits (discord-api-docs, topics/rate-limits): fixed-window buckets announced through
  honest ``X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket`` headers on every answer
  (Reset-After rounded up to the millisecond) and enforced: per route and major parameter, one
  bucket per channel shared by the message routes (POST and PATCH; `channel_rate` sets its
  size, else ``bucket_limit`` per ``bucket_seconds``), one per webhook, and 50 requests/s
  globally. 429s on demand (`rate_limit`, on any route), each with a JSON
  ``retry_after``/``global`` body, ``Retry-After``, ``X-RateLimit-*`` headers and a ``Via``
  header (discord.py reads a 429 without ``Via`` as a Cloudflare ban and raises). Every 401,
  403 and 429 is counted in `invalid_requests`;
- failures on demand (`fail`): any status on any route for the next ``times`` matching
  requests (default bodies for 400/403/404/500/502/503/504; a str body goes out as HTML, as
  Cloudflare's pages do), optionally after the request took effect (``commit=True``: a lost
  answer). Each is recorded in `injected`. discord.py 2.7 retries 500, 502 and 504 (sleeping
  1 s, 3 s, ...) on the bot's HTTP client, every 5xx on webhooks, and raises
  ``DiscordServerError`` on a bot-route 503.

Every answer with a body has ``Content-Type: application/json`` exactly, which discord.py
requires before it parses a body (a 204 has none: discord.py would try to parse the empty
body). Every request is recorded in `requests` (a multipart body as its ``payload_json`` in
``json`` and its file parts in ``files``); `messages` lists a channel's messages as they stand.

It also serves a minimal gateway (a websocket at `gateway_url`, announced by ``GET
/gateway/bot``): HELLO, then READY (no guilds) to an IDENTIFY with the right token (close 4004
otherwise), and heartbeat ACKs. With ``gateway_mode = "silent"`` it accepts the connection but
never says HELLO, so the client stays connecting. What happened is in `gateway_log`.

Point discord.py at it by overriding ``discord.http.Route.BASE`` (and, for the gateway,
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``) from the test only (monkeypatch
in-process, or the bootstrap line of a test's subprocess); the bot has no setting for either, so
no configuration can send its token anywhere but Discord. Webhooks need nothing more:
discord.py's webhook adapter (``discord/webhook/async_.py``) builds its URLs from the same
``Route`` class, so ``Route.BASE + "/webhooks/{id}/{token}"`` reaches the fake. The URL given to
``discord.Webhook.from_url`` is only parsed for its id and token (it must look like
``https://discord.com/api/webhooks/<17-20 digits>/<60+ characters>``, which `webhook_url`
returns); ``discord.Webhook.partial(id, token, session=...)`` takes any id and token.

Example::

    async with FakeDiscord(token="t0k3n", guild_ids=[111], channel_ids=[222]) as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        fake.rate_limit("PUT", r"/guilds/111/commands$", retry_after=0.3)
        fake.fail("POST", r"/channels/222/messages$", 502)
        url = fake.add_webhook(1200000000000000001, "w" * 68, channel_id=222)
        ...  # run the code under test
        assert [r.path for r in fake.requests_to("PUT")] == [fake.guild_commands_path(111)] * 2
        assert [m.content for m in fake.messages(222)] == ["FIRING: nas disk 91 %"]
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import math
import os
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
DISCORD_EPOCH_MS = 1420070400000
_MESSAGE_ROUTE = re.compile(r"/channels/(\d+)/messages(?:/(\d+))?")
_WEBHOOK_ROUTE = re.compile(r"/webhooks/(\d+)/([^/]+)(?:/messages/([^/]+))?")
_WEBHOOK_TOKEN_PATH = re.compile(rf"/api/v{API_VERSION}/webhooks/\d+/[^/]+")
_BODY = web.RequestKey("fake.body", object)
_UPLOADS = web.RequestKey("fake.uploads", list)
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
    files: tuple[Upload, ...] = ()  # the file parts of a multipart body (`json` is payload_json)
    query: dict[str, str] = field(default_factory=dict)


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
class FailureRule:
    """Answer the next `times` requests matching method and path regex with `status`.

    With `commit`, the request takes effect first and only its answer is replaced: a lost
    response, the case that makes a client retry something that already happened.
    """

    method: str
    path_re: re.Pattern[str]
    status: int
    times: int
    body: Any
    commit: bool


@dataclass(slots=True)
class StallRule:
    """Let the next `times` matching requests take effect, then hold their answers `seconds`:
    the window in which a client that dies has sent something it never heard back about."""

    method: str
    path_re: re.Pattern[str]
    seconds: float
    times: int


@dataclass(frozen=True, slots=True)
class Upload:
    """One file part (``files[n]``) of a multipart/form-data request."""

    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        """Bytes in the part."""
        return len(self.data)


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message as it stands in a fake channel now, for a test's assertions."""

    id: int
    channel_id: int
    content: str
    embeds: tuple[dict[str, Any], ...]
    components: tuple[dict[str, Any], ...]
    attachments: tuple[dict[str, Any], ...]  # id, filename, size, content_type, description
    files: tuple[Upload, ...]  # the bytes behind `attachments`, in the same order
    edits: int
    nonce: str | None
    reference: int | None  # the id of the message this one replies to
    webhook_id: int | None
    history: tuple[dict[str, Any], ...]  # the message object before each edit, oldest first


@dataclass(slots=True)
class _Webhook:
    id: int
    token: str
    channel_id: int
    name: str


@dataclass(slots=True)
class _Stored:
    id: int
    channel_id: int
    author: dict[str, Any]
    webhook_id: int | None
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    attachments: list[tuple[dict[str, Any], Upload]]
    flags: int
    nonce: str | None
    reference: int | None
    created: float  # time.monotonic(), for the nonce window
    timestamp: str
    edited_timestamp: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Bucket:
    """A fixed window, as Discord's buckets are: `limit` requests, then none until it resets."""

    limit: int
    per: float
    start: float = -math.inf
    used: int = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        """(allowed, remaining after this request, seconds until the window resets)."""
        if now - self.start >= self.per:
            self.start, self.used = now, 0
        reset = self.per - (now - self.start)
        if self.used >= self.limit:
            return False, 0, reset
        self.used += 1
        return True, self.limit - self.used, reset


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


# -- message validation (pure) ---------------------------------------------------------------

# Discord's message limits (discord-api-docs resources/message.mdx, resources/channel.mdx,
# components/reference.mdx), written out here rather than imported from bot.domain.messages:
# the fake is the oracle the bot's own validator is checked against, so it must not share it.
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_CHARS = 6000
EMBED_TEXT_LIMITS = {"title": 256, "description": 4096}
MAX_FIELDS = 25
FIELD_LIMITS = {"name": 256, "value": 1024}
EMBED_NESTED_LIMITS = {("footer", "text"): 2048, ("author", "name"): 256}
MAX_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
MAX_FILES = 10
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_NONCE = 25
NONCE_WINDOW = 300.0  # "checked for uniqueness in the past few minutes"
ACTION_ROW, BUTTON, LINK_STYLE = 1, 2, 5
SELECTS = {3, 5, 6, 7, 8}

UNKNOWN_CHANNEL = {"message": "Unknown Channel", "code": 10003}
UNKNOWN_MESSAGE = {"message": "Unknown Message", "code": 10008}
UNKNOWN_WEBHOOK = {"message": "Unknown Webhook", "code": 10015}
INVALID_WEBHOOK_TOKEN = {"message": "Invalid Webhook Token", "code": 50027}
MISSING_ACCESS = {"message": "Missing Access", "code": 50001}
EMPTY_MESSAGE = {"message": "Cannot send an empty message", "code": 50006}
OTHER_AUTHOR = {"message": "Cannot edit a message authored by another user", "code": 50005}
ENTITY_TOO_LARGE = {"message": "Request entity too large", "code": 40005}
INVALID_JSON = {"code": 50109, "message": "The request body contains invalid JSON."}
FAILURE_BODIES: dict[int, Any] = {
    400: {"message": "400: Bad Request", "code": 0},
    403: MISSING_ACCESS,
    404: {"message": "404: Not Found", "code": 0},
    500: {"message": "500: Internal Server Error", "code": 0},
    502: {"message": "502: Bad Gateway", "code": 0},
    503: {"message": "503: Service Unavailable", "code": 0},
    504: {"message": "504: Gateway Timeout", "code": 0},
}

REQUIRED = ("BASE_TYPE_REQUIRED", "This field is required")
EMBED_TOO_BIG = ("MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_CHARS}")
BAD_ROW = ("COMPONENT_TYPE_INVALID", "The specified component type is invalid in this context")
TOO_WIDE = ("COMPONENT_LAYOUT_WIDTH_EXCEEDED", "The specified component exceeds the maximum width")
DUPLICATE_CUSTOM_ID = ("COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
LINK_WITH_CUSTOM_ID = ("BUTTON_LINK_CUSTOM_ID", "A link button cannot have a custom_id")
UNKNOWN_REFERENCE = ("MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")


def _max_length(limit: int) -> tuple[str, str]:
    return "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."


def _check_embed(embed: Any, path: list[str], errors: _Errors) -> int:
    """Validate one embed; returns the characters it counts toward the 6000 of a message."""
    if not isinstance(embed, dict):
        errors.add(path, NOT_AN_OBJECT)
        return 0
    chars = 0
    for key, limit in EMBED_TEXT_LIMITS.items():
        value = embed.get(key)
        if isinstance(value, str):
            chars += len(value)
            if len(value) > limit:
                errors.add([*path, key], _max_length(limit))
    fields = embed.get("fields") or []
    if len(fields) > MAX_FIELDS:
        errors.add([*path, "fields"], _max_length(MAX_FIELDS))
    for j, f in enumerate(fields):
        here = [*path, "fields", str(j)]
        if not isinstance(f, dict):
            errors.add(here, NOT_AN_OBJECT)
            continue
        for key, limit in FIELD_LIMITS.items():
            value = f.get(key)
            if not isinstance(value, str) or not value:
                errors.add([*here, key], REQUIRED)
                continue
            chars += len(value)
            if len(value) > limit:
                errors.add([*here, key], _max_length(limit))
    for (key, sub), limit in EMBED_NESTED_LIMITS.items():
        node = embed.get(key)
        value = node.get(sub) if isinstance(node, dict) else None
        if isinstance(value, str):
            chars += len(value)
            if len(value) > limit:
                errors.add([*path, key, sub], _max_length(limit))
    return chars


def _check_components(rows: Any, errors: _Errors) -> None:
    """Action rows of buttons and selects: 5 rows, 5 buttons or one select per row."""
    if not isinstance(rows, list):
        errors.add(["components"], ("MODEL_TYPE_CONVERT", "Must be an array."))
        return
    if len(rows) > MAX_ROWS:
        errors.add(["components"], _max_length(MAX_ROWS))
    seen: set[str] = set()
    for r, row in enumerate(rows):
        here = ["components", str(r)]
        if not isinstance(row, dict) or row.get("type") != ACTION_ROW:
            errors.add([*here, "type"], BAD_ROW)
            continue
        items = row.get("components") or []
        if not items:
            errors.add(
                [*here, "components"], ("BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
            )
        if len(items) > MAX_ROW_ITEMS:
            errors.add([*here, "components"], _max_length(MAX_ROW_ITEMS))
        if len(items) > 1 and any(isinstance(i, dict) and i.get("type") in SELECTS for i in items):
            errors.add([*here, "components"], TOO_WIDE)
        for k, item in enumerate(items):
            at = [*here, "components", str(k)]
            if not isinstance(item, dict) or item.get("type") not in {BUTTON, *SELECTS}:
                errors.add([*at, "type"], BAD_ROW)
                continue
            custom_id = item.get("custom_id")
            if item.get("type") == BUTTON:
                label = item.get("label")
                if isinstance(label, str) and len(label) > MAX_BUTTON_LABEL:
                    errors.add([*at, "label"], _max_length(MAX_BUTTON_LABEL))
                if item.get("style") == LINK_STYLE:
                    if not item.get("url"):
                        errors.add([*at, "url"], REQUIRED)
                    if custom_id is not None:
                        errors.add([*at, "custom_id"], LINK_WITH_CUSTOM_ID)
                    continue
            if not _length(custom_id, 1, MAX_CUSTOM_ID):
                bad = ("BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_CUSTOM_ID} in length.")
                errors.add([*at, "custom_id"], bad)
            elif custom_id in seen:
                errors.add([*at, "custom_id"], DUPLICATE_CUSTOM_ID)
            else:
                seen.add(custom_id)


def validate_message(
    payload: dict[str, Any], uploads: Sequence[Upload] = ()
) -> tuple[int, dict[str, Any]] | None:
    """None if Discord would accept this message body (create or edit), else (status, body).

    Emptiness (50006) is the caller's check: an edit is judged on the message it leaves.
    """
    if any(u.size > MAX_FILE_BYTES for u in uploads):
        return 413, dict(ENTITY_TOO_LARGE)
    errors = _Errors()
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        errors.add(["content"], ("BASE_TYPE_STRING", "Must be a string."))
    elif content is not None and len(content) > MAX_CONTENT:
        errors.add(["content"], _max_length(MAX_CONTENT))
    embeds = payload.get("embeds") or []
    if not isinstance(embeds, list):
        errors.add(["embeds"], ("MODEL_TYPE_CONVERT", "Must be an array."))
        embeds = []
    if len(embeds) > MAX_EMBEDS:
        errors.add(["embeds"], _max_length(MAX_EMBEDS))
    total = sum(_check_embed(e, ["embeds", str(i)], errors) for i, e in enumerate(embeds))
    if total > MAX_EMBED_CHARS:
        errors.add(["embeds"], EMBED_TOO_BIG)
    _check_components(payload.get("components") or [], errors)
    listed = payload.get("attachments") or []
    if len(uploads) > MAX_FILES or (isinstance(listed, list) and len(listed) > MAX_FILES):
        errors.add(["attachments"], _max_length(MAX_FILES))
    nonce = payload.get("nonce")
    if isinstance(nonce, str) and len(nonce) > MAX_NONCE:
        errors.add(["nonce"], _max_length(MAX_NONCE))
    if errors.tree:
        return 400, {"code": 50035, "errors": errors.tree, "message": "Invalid Form Body"}
    return None


def parse_multipart(raw: bytes, content_type: str) -> tuple[Any, list[Upload]]:
    """(payload_json, file parts) of a multipart/form-data body, as discord.py sends uploads."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if m is None:
        return None, []
    payload: Any = None
    uploads: list[Upload] = []
    for part in raw.split(b"--" + m[1].encode())[1:]:
        if part.startswith(b"--"):  # the closing delimiter
            break
        head, _, body = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        body = body.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _disposition_param(disposition, "name")
        filename = _disposition_param(disposition, "filename")
        if name == "payload_json":
            payload = _parse(body)
        elif filename is not None:
            kind = headers.get("content-type", "application/octet-stream")
            uploads.append(Upload(name or "", filename, kind, body))
    return payload, uploads


def _disposition_param(disposition: str, key: str) -> str | None:
    m = re.search(rf'(?:^|;)\s*{key}="([^"]*)"', disposition)
    return m[1] if m else None


def _is_empty(content: Any, embeds: Any, attachments: Any, components: Any) -> bool:
    return not (content or embeds or attachments or components)


# -- the server -----------------------------------------------------------------------------


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py parses a body only under that exact content type.
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


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
        channel_ids: Iterable[int] = (),
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
        # (method, path, status) of every answer `fail` injected, in order.
        self.injected: list[tuple[str, str, int]] = []
        self._channels: dict[int, list[_Stored]] = {cid: [] for cid in channel_ids}
        self._forbidden: set[int] = set()
        self._webhooks: dict[int, _Webhook] = {}
        self._rules: list[RateLimitRule] = []
        self._failures: list[FailureRule] = []
        self._stalls: list[StallRule] = []
        # Set when a stalled request has taken effect and its answer is being held.
        self.stalled = asyncio.Event()
        self._buckets: dict[str, _Bucket] = {}
        self._bucket_limit = bucket_limit
        self._bucket_seconds = bucket_seconds
        self._channel_rate: tuple[int, float] | None = None
        self._global = _Bucket(global_rate, 1.0)
        self._ids = itertools.count(APP_ID + 1000)
        self._last_snowflake = 0
        self._runner: web.AppRunner | None = None
        self.api_base = ""
        self.gateway_url = ""
        self.gateway_mode = "ready"  # or "silent": accept, never say HELLO
        # ("connect", query), ("identify", token accepted?), ("ready", session), ("closed", code)
        self.gateway_log: list[tuple[str, Any]] = []

    # -- life cycle ---------------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        """Listen on 127.0.0.1 (a free port); `api_base` is then the value for Route.BASE."""
        # Room for ten 10 MiB files and then some: the fake, not aiohttp, refuses large uploads.
        app = web.Application(middlewares=[self._middleware], client_max_size=128 * 1024 * 1024)
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

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        body: Any = None,
        commit: bool = False,
    ) -> None:
        """Answer the next `times` matching requests with `status` (a str body is sent as HTML).

        `commit=True` lets the request take effect before the failure replaces its answer.
        """
        self._failures.append(
            FailureRule(method.upper(), re.compile(path_regex), status, times, body, commit)
        )

    def stall(self, method: str, path_regex: str, seconds: float, *, times: int = 1) -> None:
        """Apply the next matching requests, then hold each answer `seconds` (`stalled` is set)."""
        self._stalls.append(StallRule(method.upper(), re.compile(path_regex), seconds, times))

    def add_channel(self, channel_id: int) -> None:
        """A text channel the bot may post in (idempotent)."""
        self._channels.setdefault(channel_id, [])

    def forbid_channel(self, channel_id: int) -> None:
        """The bot loses access to a known channel: its message routes answer 403 (50001)."""
        self.add_channel(channel_id)
        self._forbidden.add(channel_id)

    def channel_rate(self, limit: int = 5, per: float = 2.0) -> None:
        """The per-channel bucket the message routes (POST, PATCH) share: `limit` per `per` s."""
        self._channel_rate = (limit, per)
        for key in [k for k in self._buckets if k.startswith("channel:")]:
            del self._buckets[key]

    def add_webhook(
        self, webhook_id: int, token: str, channel_id: int, *, name: str = "homelab-alerts"
    ) -> str:
        """A webhook posting into `channel_id`; returns its URL for `Webhook.from_url`."""
        self.add_channel(channel_id)
        self._webhooks[webhook_id] = _Webhook(webhook_id, token, channel_id, name)
        return self.webhook_url(webhook_id)

    def webhook_url(self, webhook_id: int) -> str:
        """The webhook's URL as Discord shows it (only parsed by discord.py, never requested)."""
        hook = self._webhooks[webhook_id]
        return f"https://discord.com/api/webhooks/{hook.id}/{hook.token}"

    def messages(self, channel_id: int) -> list[PostedMessage]:
        """The channel's messages as they stand now, oldest first."""
        return [
            PostedMessage(
                id=s.id,
                channel_id=s.channel_id,
                content=s.content,
                embeds=tuple(s.embeds),
                components=tuple(s.components),
                attachments=tuple(a for a, _ in s.attachments),
                files=tuple(u for _, u in s.attachments),
                edits=len(s.history),
                nonce=s.nonce,
                reference=s.reference,
                webhook_id=s.webhook_id,
                history=tuple(s.history),
            )
            for s in self._channels.get(channel_id, [])
        ]

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
        raw = await request.read()
        uploads: list[Upload] = []
        if request.content_type == "multipart/form-data":
            body, uploads = parse_multipart(raw, request.headers.get("Content-Type", ""))
        else:
            body = _parse(raw)
        request[_BODY], request[_UPLOADS] = body, uploads
        response = await self._answer(request, handler)
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.headers),
                body,
                response.status,
                time.monotonic(),
                tuple(uploads),
                dict(request.query),
            )
        )
        if response.status in (401, 403, 429):
            self.invalid_requests += 1
        return response

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        # A webhook's token is its credential: Discord takes those routes without a bot token.
        with_token = _WEBHOOK_TOKEN_PATH.match(request.path) is not None
        if not with_token and request.headers.get("Authorization") != f"Bot {self.token}":
            return _json(401, {"message": "401: Unauthorized", "code": 0})
        now = time.monotonic()
        allowed, _, reset = self._global.take(now)
        if not allowed:
            return self._too_many(reset, global_=True, bucket=None, via=True)
        failure = self._take(self._failures, request)
        if failure is not None and not failure.commit:
            return self._injected(request, failure)
        key, name, limit, per = self._bucket_for(request)
        rule = self._take(self._rules, request)
        if rule is not None:
            return self._too_many(
                rule.retry_after, global_=rule.global_, bucket=(name, limit), via=rule.via
            )
        bucket = self._buckets.setdefault(key, _Bucket(limit, per))
        allowed, remaining, reset = bucket.take(now)
        if not allowed:
            return self._too_many(reset, global_=False, bucket=(name, limit), via=True)
        response: web.StreamResponse = await handler(request)
        stall = self._take(self._stalls, request)
        if stall is not None:
            self.stalled.set()
            await asyncio.sleep(stall.seconds)
        if failure is not None:  # it happened; only the answer is lost
            return self._injected(request, failure)
        response.headers.update(self._bucket_headers(name, limit, remaining, reset))
        return response

    @staticmethod
    def _take(rules: Sequence[Any], request: web.Request) -> Any:
        """The first rule with uses left matching the request, one use spent; else None."""
        for rule in rules:
            if (
                rule.times > 0
                and rule.method == request.method
                and rule.path_re.search(request.path)
            ):
                rule.times -= 1
                return rule
        return None

    def _injected(self, request: web.Request, failure: FailureRule) -> web.Response:
        self.injected.append((request.method, request.path, failure.status))
        body = failure.body if failure.body is not None else FAILURE_BODIES.get(failure.status)
        if isinstance(body, str):  # what Cloudflare's error pages look like
            return web.Response(status=failure.status, text=body, content_type="text/html")
        return _json(failure.status, body if body is not None else {"message": "", "code": 0})

    def _bucket_for(self, request: web.Request) -> tuple[str, str, int, float]:
        """(bucket key, bucket name for the hash header, limit, window seconds)."""
        route = request.path.removeprefix(f"/api/v{API_VERSION}")
        default = (self._bucket_limit, self._bucket_seconds)
        m = _MESSAGE_ROUTE.fullmatch(route)
        if m and request.method in ("POST", "PATCH"):
            # Discord's message routes share one bucket per channel, the major parameter.
            limit, per = self._channel_rate or default
            return f"channel:{m[1]}", "channel-messages", limit, per
        m = _WEBHOOK_ROUTE.fullmatch(route)
        if m:
            return f"webhook:{m[1]}", "webhook", *default
        # One bucket per route and major parameter (the guild), like Discord's.
        template = re.sub(r"/applications/\d+", "/applications/{id}", request.path)
        key = f"{request.method}:{template}"
        return key, key, *default

    @staticmethod
    def _bucket_headers(name: str, limit: int, remaining: int, reset: float) -> dict[str, str]:
        # Rounded up, as Discord does: a client that waits exactly this long is never early.
        reset = math.ceil(reset * 1000) / 1000
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset:.3f}",
            "X-RateLimit-Reset-After": f"{reset:.3f}",
            "X-RateLimit-Bucket": f"fake-{abs(hash(name)) % 10**12:x}",
        }

    def _too_many(
        self, retry_after: float, *, global_: bool, bucket: tuple[str, int] | None, via: bool
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
            headers.update(self._bucket_headers(bucket[0], bucket[1], 0, retry_after))
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
        body, uploads = request[_BODY], request[_UPLOADS]
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
        m = _MESSAGE_ROUTE.fullmatch(route)
        if m:
            mid = int(m[2]) if m[2] else None
            return self._channel_message(request.method, int(m[1]), mid, body, uploads)
        m = _WEBHOOK_ROUTE.fullmatch(route)
        if m:
            wait = request.query.get("wait", "false").lower() in ("true", "1")
            return self._webhook(request.method, int(m[1]), m[2], m[3], body, uploads, wait)
        return _json(404, {"message": "404: Not Found", "code": 0})

    # -- messages -------------------------------------------------------------------------
    def _channel_message(
        self, method: str, cid: int, mid: int | None, body: Any, uploads: list[Upload]
    ) -> web.Response:
        if cid not in self._channels:
            return _json(404, UNKNOWN_CHANNEL)
        if cid in self._forbidden:
            return _json(403, MISSING_ACCESS)
        if mid is None:
            if method == "POST":
                return self._create(cid, body, uploads, author=self._bot_user(), webhook_id=None)
            if method == "GET":
                return _json(200, [self._render(s) for s in reversed(self._channels[cid])])
            return _json(405, {"message": "405: Method Not Allowed", "code": 0})
        stored = self._find(cid, mid)
        if stored is None:
            return _json(404, UNKNOWN_MESSAGE)
        if method == "GET":
            return _json(200, self._render(stored))
        if method == "PATCH":
            if stored.webhook_id is not None:
                return _json(403, OTHER_AUTHOR)
            return self._edit(stored, body, uploads)
        if method == "DELETE":
            self._channels[cid].remove(stored)
            return web.Response(status=204)
        return _json(405, {"message": "405: Method Not Allowed", "code": 0})

    def _webhook(
        self,
        method: str,
        wid: int,
        token: str,
        mid: str | None,
        body: Any,
        uploads: list[Upload],
        wait: bool,
    ) -> web.Response:
        hook = self._webhooks.get(wid)
        if hook is None:
            return _json(404, UNKNOWN_WEBHOOK)
        if not hmac.compare_digest(token.encode(), hook.token.encode()):
            return _json(401, INVALID_WEBHOOK_TOKEN)
        if mid is None:
            if method != "POST":
                return _json(405, {"message": "405: Method Not Allowed", "code": 0})
            author = self._webhook_user(hook, body)
            response = self._create(hook.channel_id, body, uploads, author=author, webhook_id=wid)
            if response.status == 200 and not wait:
                return web.Response(status=204)  # no body, so no JSON content type either
            return response
        stored = self._find(hook.channel_id, int(mid)) if mid.isdigit() else None
        if stored is None or stored.webhook_id != wid:
            return _json(404, UNKNOWN_MESSAGE)
        if method == "GET":
            return _json(200, self._render(stored))
        if method == "PATCH":
            return self._edit(stored, body, uploads)
        if method == "DELETE":
            self._channels[hook.channel_id].remove(stored)
            return web.Response(status=204)
        return _json(405, {"message": "405: Method Not Allowed", "code": 0})

    def _find(self, cid: int, mid: int) -> _Stored | None:
        return next((s for s in self._channels.get(cid, []) if s.id == mid), None)

    def _create(
        self,
        cid: int,
        payload: Any,
        uploads: list[Upload],
        *,
        author: dict[str, Any],
        webhook_id: int | None,
    ) -> web.Response:
        if not isinstance(payload, dict):
            return _json(400, INVALID_JSON)
        problem = validate_message(payload, uploads)
        if problem is not None:
            return _json(*problem)
        nonce = payload.get("nonce")
        nonce = None if nonce is None else str(nonce)
        if nonce is not None and payload.get("enforce_nonce"):
            now = time.monotonic()
            for s in self._channels[cid]:
                same_author = s.author["id"] == author["id"]
                if s.nonce == nonce and same_author and now - s.created < NONCE_WINDOW:
                    return _json(200, self._render(s))  # Discord's answer: the one it made
        reference = None
        ref = payload.get("message_reference")
        if isinstance(ref, dict) and ref.get("message_id") is not None:
            reference = int(ref["message_id"])
            if self._find(int(ref.get("channel_id") or cid), reference) is None:
                if ref.get("fail_if_not_exists", True):
                    errors = _Errors()
                    errors.add(["message_reference"], UNKNOWN_REFERENCE)
                    body = {"code": 50035, "errors": errors.tree, "message": "Invalid Form Body"}
                    return _json(400, body)
                reference = None
        attachments = self._attachments(cid, payload.get("attachments"), uploads, [])
        content = payload.get("content") or ""
        embeds = [{"type": "rich", **e} for e in payload.get("embeds") or []]
        components = list(payload.get("components") or [])
        if _is_empty(content, embeds, attachments, components) and not payload.get("sticker_ids"):
            return _json(400, EMPTY_MESSAGE)
        stored = _Stored(
            id=self._snowflake(),
            channel_id=cid,
            author=author,
            webhook_id=webhook_id,
            content=content,
            embeds=embeds,
            components=components,
            attachments=attachments,
            flags=int(payload.get("flags") or 0),
            nonce=nonce,
            reference=reference,
            created=time.monotonic(),
            timestamp=_now_iso(),
        )
        self._channels[cid].append(stored)
        return _json(200, self._render(stored))

    def _edit(self, stored: _Stored, payload: Any, uploads: list[Upload]) -> web.Response:
        """Replace the fields the edit names, as Discord does; keep the rest."""
        if not isinstance(payload, dict):
            return _json(400, INVALID_JSON)
        problem = validate_message(payload, uploads)
        if problem is not None:
            return _json(*problem)
        content = (payload.get("content") or "") if "content" in payload else stored.content
        embeds = (
            [{"type": "rich", **e} for e in payload.get("embeds") or []]
            if "embeds" in payload
            else stored.embeds
        )
        components = (
            list(payload.get("components") or []) if "components" in payload else stored.components
        )
        if "attachments" in payload:
            keep = {
                str(a.get("id")) for a in payload.get("attachments") or [] if isinstance(a, dict)
            }
            kept = [(a, u) for a, u in stored.attachments if a["id"] in keep]
        else:
            kept = list(stored.attachments)
        attachments = self._attachments(
            stored.channel_id, payload.get("attachments"), uploads, kept
        )
        if _is_empty(content, embeds, attachments, components):
            return _json(400, EMPTY_MESSAGE)
        stored.history.append(self._render(stored))
        stored.content, stored.embeds, stored.components = content, embeds, components
        stored.attachments = attachments
        if "flags" in payload:
            stored.flags = int(payload.get("flags") or 0)
        stored.edited_timestamp = _now_iso()
        return _json(200, self._render(stored))

    def _attachments(
        self,
        cid: int,
        listed: Any,
        uploads: list[Upload],
        kept: list[tuple[dict[str, Any], Upload]],
    ) -> list[tuple[dict[str, Any], Upload]]:
        """Kept attachments, then one per uploaded file, described by its `attachments` entry."""
        described = {
            str(a.get("id")): a for a in (listed or []) if isinstance(a, dict) and "id" in a
        }
        out = list(kept)
        for n, upload in enumerate(uploads):
            m = re.fullmatch(r"files\[(\d+)\]", upload.field)
            entry = described.get(m[1] if m else str(n), {})
            aid = self._snowflake()
            filename = entry.get("filename") or upload.filename
            url = f"https://cdn.discordapp.com/attachments/{cid}/{aid}/{filename}"
            meta: dict[str, Any] = {
                "id": str(aid),
                "filename": filename,
                "size": upload.size,
                "url": url,
                "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
                "content_type": upload.content_type,
            }
            if entry.get("description"):
                meta["description"] = entry["description"]
            out.append((meta, upload))
        return out

    def _render(self, s: _Stored, *, with_reference: bool = True) -> dict[str, Any]:
        """The message object Discord answers with (what discord.Message parses)."""
        data: dict[str, Any] = {
            "id": str(s.id),
            "channel_id": str(s.channel_id),
            "author": s.author,
            "content": s.content,
            "timestamp": s.timestamp,
            "edited_timestamp": s.edited_timestamp,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "mention_channels": [],
            "attachments": [a for a, _ in s.attachments],
            "embeds": s.embeds,
            "reactions": [],
            "pinned": False,
            "type": 19 if s.reference is not None else 0,  # REPLY or DEFAULT
            "flags": s.flags,
            "components": s.components,
        }
        if s.nonce is not None:
            data["nonce"] = s.nonce
        if s.webhook_id is not None:
            data["webhook_id"] = str(s.webhook_id)
        if s.reference is not None:
            data["message_reference"] = {
                "type": 0,
                "message_id": str(s.reference),
                "channel_id": str(s.channel_id),
            }
            if with_reference:
                ref = self._find(s.channel_id, s.reference)
                data["referenced_message"] = (
                    None if ref is None else self._render(ref, with_reference=False)
                )
        return data

    def _snowflake(self) -> int:
        """A fresh, increasing snowflake whose timestamp is now."""
        now = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (os.getpid() & 0x1F) << 17
        self._last_snowflake = max(now, self._last_snowflake + 1)
        return self._last_snowflake

    def _webhook_user(self, hook: _Webhook, payload: Any) -> dict[str, Any]:
        name = payload.get("username") if isinstance(payload, dict) else None
        return {
            "id": str(hook.id),
            "username": name or hook.name,
            "discriminator": "0000",
            "avatar": None,
            "bot": True,
        }

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
