"""The fake Discord REST API enforces the documented limits it claims to (tests/harness)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.harness.fakediscord import (
    APP_ID,
    FakeDiscord,
    valid_chat_input_name,
    validate_commands,
)

TOKEN = "fake-token-for-the-fake"
GUILD = 4242


def _cmd(name: str = "status", description: str = "Fleet summary", **extra: Any) -> dict[str, Any]:
    return {"type": 1, "name": name, "description": description, **extra}


def _opt(name: str, kind: int = 3, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "description": "an option", **extra}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A running fake that knows one guild."""
    async with FakeDiscord(TOKEN, guild_ids=[GUILD], bucket_limit=3, bucket_seconds=5) as f:
        yield f


async def _call(
    fake: FakeDiscord, method: str, path: str, *, token: str | None = TOKEN, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    headers = {} if token is None else {"Authorization": f"Bot {token}"}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, fake.api_base + path, headers=headers, json=body) as r,
    ):
        return r.status, dict(r.headers), await r.json(content_type=None)


@pytest.mark.parametrize(
    "authorization", [None, "Bot wrong", TOKEN, f"Bearer {TOKEN}", f"bot {TOKEN}"]
)
async def test_requests_without_the_bot_token_get_401(
    fake: FakeDiscord, authorization: str | None
) -> None:
    """No, a wrong or a non-`Bot ` Authorization header is 401 with Discord's body, and counted."""
    headers = {} if authorization is None else {"Authorization": authorization}
    async with (
        aiohttp.ClientSession() as s,
        s.get(fake.api_base + "/users/@me", headers=headers) as r,
    ):
        status, content_type, body = r.status, r.headers["Content-Type"], await r.json()
    assert status == 401 and body == {"message": "401: Unauthorized", "code": 0}
    assert content_type == "application/json"
    assert fake.invalid_requests == 1


async def test_the_right_token_logs_in(fake: FakeDiscord) -> None:
    """`Bot <token>` reads the bot user, with exactly application/json and bucket headers."""
    status, headers, body = await _call(fake, "GET", "/users/@me")
    assert status == 200 and body["bot"] is True
    assert headers["Content-Type"] == "application/json"
    assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Remaining"] == "2"
    assert fake.requests[-1].headers["Authorization"] == f"Bot {TOKEN}"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("status", True),
        ("audit-tail_2", True),
        ("it's", True),
        ("статус", True),
        ("ステータス", True),  # uncased letters are allowed as they are
        ("Status", False),  # a cased letter must be lowercase
        ("\u0421\u0422\u0410\u0422\u0423\u0421", False),  # uppercase Cyrillic
        ("audit tail", False),
        ("status!", False),
        ("", False),
        ("x" * 32, True),
        ("x" * 33, False),
    ],
)
def test_chat_input_names_follow_discords_rule(name: str, ok: bool) -> None:
    """Names: 1-32 letters, numbers, - _ ', lowercase wherever a lowercase form exists."""
    assert valid_chat_input_name(name) is ok


@pytest.mark.parametrize(
    ("payload", "error_path", "code"),
    [
        ([_cmd("Status")], ["0", "name"], "APPLICATION_COMMAND_INVALID_NAME"),
        ([_cmd(description="")], ["0", "description"], "BASE_TYPE_BAD_LENGTH"),
        ([_cmd(description="d" * 101)], ["0", "description"], "BASE_TYPE_BAD_LENGTH"),
        (
            [_cmd(options=[_opt(f"o{i}") for i in range(26)])],
            ["0", "options"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [
                _cmd(
                    options=[
                        _opt("host", choices=[{"name": f"c{i}", "value": i} for i in range(26)])
                    ]
                )
            ],
            ["0", "options", "0", "choices"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [_cmd(options=[_opt("a"), _opt("b", required=True)])],
            ["0", "options", "1", "required"],
            "APPLICATION_COMMAND_OPTION_REQUIRED_ORDER",
        ),
        (
            [_cmd(options=[_opt("tail", 1), _opt("host")])],
            ["0", "options"],
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
        ),
        (
            [_cmd(options=[_opt("g", 2, options=[_opt("h", 2)])])],
            ["0", "options", "0", "options"],
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
        ),
        (
            [_cmd(options=[_opt("Host")])],
            ["0", "options", "0", "name"],
            "APPLICATION_COMMAND_INVALID_NAME",
        ),
        ([_cmd(), _cmd()], ["1", "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME"),
        (
            [
                _cmd(
                    description="d" * 100,
                    options=[
                        _opt(f"o{i}", choices=[{"name": "n" * 100, "value": "v" * 100}] * 2)
                        for i in range(21)
                    ],
                )
            ],
            ["0"],
            "APPLICATION_COMMAND_TOO_LARGE",
        ),
    ],
)
def test_invalid_command_payloads_get_50035(
    payload: list[dict[str, Any]], error_path: list[str], code: str
) -> None:
    """Each documented limit is a 400 Invalid Form Body naming the field, as Discord answers."""
    problem = validate_commands(payload)
    assert problem is not None
    status, body = problem
    assert status == 400 and body["code"] == 50035
    node = body["errors"]
    for key in error_path:
        node = node[key]
    assert code in [e["code"] for e in node["_errors"]]


def test_more_than_100_chat_input_commands_is_30032() -> None:
    """101 CHAT_INPUT commands in one scope exceed Discord's 100; 100 pass."""
    hundred = [_cmd(f"c{i}") for i in range(100)]
    assert validate_commands(hundred) is None
    problem = validate_commands([*hundred, _cmd("c100")])
    assert problem is not None and problem[1]["code"] == 30032


async def test_bulk_overwrite_stores_and_answers_commands(fake: FakeDiscord) -> None:
    """A valid PUT replaces the guild's commands, keeps ids by name, and GET lists them."""
    path = f"/applications/{APP_ID}/guilds/{GUILD}/commands"
    status, _, first = await _call(fake, "PUT", path, body=[_cmd(), _cmd("whoami")])
    assert status == 200 and [c["name"] for c in first] == ["status", "whoami"]
    assert all(c["guild_id"] == str(GUILD) for c in first)
    status, _, second = await _call(fake, "PUT", path, body=[_cmd()])
    assert status == 200 and second[0]["id"] == first[0]["id"]
    _, _, listed = await _call(fake, "GET", path)
    assert [c["name"] for c in listed] == ["status"]
    assert fake.requests_to("PUT", r"/guilds/4242/commands$")[0].json[1]["name"] == "whoami"


async def test_a_guild_without_the_app_is_403_missing_access(fake: FakeDiscord) -> None:
    """PUT to a guild the application was not invited to is 403 code 50001."""
    status, _, body = await _call(fake, "PUT", f"/applications/{APP_ID}/guilds/1/commands", body=[])
    assert status == 403 and body["code"] == 50001


async def test_rate_limit_on_demand_has_discords_429_shape(fake: FakeDiscord) -> None:
    """A requested 429 carries retry_after/global JSON, Retry-After, X-RateLimit-* and Via."""
    fake.rate_limit("GET", r"/users/@me$", retry_after=0.25)
    status, headers, body = await _call(fake, "GET", "/users/@me")
    assert status == 429
    assert body["retry_after"] == 0.25 and body["global"] is False
    assert headers["Content-Type"] == "application/json"
    assert headers["Via"] and headers["Retry-After"] == "1"
    assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Scope"] == "user"
    assert float(headers["X-RateLimit-Reset-After"]) == 0.25
    status, _, _ = await _call(fake, "GET", "/users/@me")
    assert status == 200  # only `times` requests are limited


async def test_a_cloudflare_429_has_no_via_and_no_json(fake: FakeDiscord) -> None:
    """via=False imitates a Cloudflare ban: plain text, no Via header."""
    fake.rate_limit("GET", r"/users/@me$", via=False)
    async with (
        aiohttp.ClientSession() as s,
        s.get(fake.api_base + "/users/@me", headers={"Authorization": f"Bot {TOKEN}"}) as r,
    ):
        assert r.status == 429 and "Via" not in r.headers
        assert r.headers["Content-Type"].startswith("text/plain")


async def test_exceeding_a_bucket_is_429(fake: FakeDiscord) -> None:
    """The route's bucket (3 per 5 s here) is enforced, and the 429 says how long to wait."""
    statuses = [(await _call(fake, "GET", "/users/@me"))[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert fake.invalid_requests == 1


async def test_the_global_rate_is_enforced() -> None:
    """More than the global rate per second gets a global 429."""
    async with FakeDiscord(TOKEN, global_rate=4, bucket_limit=100) as f:
        results = [await _call(f, "GET", "/users/@me") for _ in range(5)]
    _, headers, body = results[-1]
    assert [r[0] for r in results] == [200, 200, 200, 200, 429]
    assert body["global"] is True and headers["X-RateLimit-Global"] == "true"


@pytest.mark.parametrize(("token", "ready"), [(TOKEN, True), ("wrong", False)])
async def test_gateway_says_hello_then_ready_or_closes_4004(
    fake: FakeDiscord, token: str, ready: bool
) -> None:
    """The gateway announced by GET /gateway/bot says HELLO; IDENTIFY gets READY or close 4004."""
    _, _, info = await _call(fake, "GET", "/gateway/bot")
    assert info["url"] == fake.gateway_url and info["shards"] == 1
    async with aiohttp.ClientSession() as s, s.ws_connect(fake.gateway_url) as ws:
        hello = await ws.receive_json()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await ws.send_json({"op": 2, "d": {"token": token, "intents": 0}})
        answer = await ws.receive()
        if ready:
            event = answer.json()
            assert event["t"] == "READY" and event["s"] == 1
            assert event["d"]["user"]["bot"] is True
            await ws.send_json({"op": 1, "d": 1})
            assert (await ws.receive_json())["op"] == 11  # heartbeat ACK
        else:
            assert answer.type is aiohttp.WSMsgType.CLOSE and answer.data == 4004
    assert fake.gateway_log[1] == ("identify", ready)
