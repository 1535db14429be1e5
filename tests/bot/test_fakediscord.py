"""The fake Discord REST API enforces the documented limits it claims to (tests/harness)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from tests.harness.fakediscord import (
    APP_ID,
    BOT_USER_ID,
    FakeDiscord,
    valid_chat_input_name,
    validate_commands,
    validate_message,
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


# -- messages, webhooks and their limits, driven by the real discord.py ----------------------

CHANNEL = 1200000000000000010
OTHER_CHANNEL = 1200000000000000011
WEBHOOK_ID = 1200000000000000020
WEBHOOK_TOKEN = "wh-" + "x" * 65  # discord.py's from_url wants 60+ characters of [A-Za-z0-9.-_]
MESSAGES = rf"/channels/{CHANNEL}/messages"


@pytest.fixture
async def wire(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """A running fake with two channels and a webhook; discord.py's Route.BASE points at it."""
    async with FakeDiscord(TOKEN, channel_ids=[CHANNEL, OTHER_CHANNEL]) as f:
        f.add_webhook(WEBHOOK_ID, WEBHOOK_TOKEN, CHANNEL)
        monkeypatch.setattr(discord.http.Route, "BASE", f.api_base)
        yield f


@pytest.fixture
async def client(wire: FakeDiscord) -> AsyncIterator[discord.Client]:
    """A discord.Client logged in to the fake over REST (no gateway)."""
    c = discord.Client(intents=discord.Intents.none())
    async with c:
        await c.login(TOKEN)
        yield c


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The aiohttp session discord.Webhook sends through."""
    async with aiohttp.ClientSession() as s:
        yield s


def _view(*labels: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for i, label in enumerate(labels):
        view.add_item(discord.ui.Button(label=label, custom_id=f"alert:ack:{i}"))
    return view


def _statuses(fake: FakeDiscord, method: str = "POST", path: str = MESSAGES) -> list[int]:
    return [r.status for r in fake.requests_to(method, path + "$")]


async def test_send_with_embed_file_and_buttons_then_edit(
    wire: FakeDiscord, client: discord.Client
) -> None:
    """discord.py uploads multipart, parses the answer, and an edit replaces what it names."""
    channel = client.get_partial_messageable(CHANNEL)
    embed = discord.Embed(title="nas: disk 91 %", description="/srv is filling up")
    embed.add_field(name="host", value="nas").set_footer(text="homelab")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    sent = await channel.send(
        "FIRING", embed=embed, file=discord.File(io.BytesIO(png), "chart.png"), view=_view("Ack")
    )
    assert sent.content == "FIRING" and sent.embeds[0].title == "nas: disk 91 %"
    assert sent.author.id == BOT_USER_ID and sent.created_at.year >= 2025
    assert [(a.filename, a.size) for a in sent.attachments] == [("chart.png", len(png))]
    button = sent.components[0].children[0]  # type: ignore[union-attr]
    assert isinstance(button, discord.Button) and button.custom_id == "alert:ack:0"
    upload = wire.requests_to("POST", MESSAGES + "$")[0]
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    assert upload.files[0].data == png and upload.json["content"] == "FIRING"

    edited = await sent.edit(content="RESOLVED", embed=None, attachments=[], view=None)
    assert edited.edited_at is not None and edited.content == "RESOLVED"
    [posted] = wire.messages(CHANNEL)
    assert posted.id == sent.id and posted.content == "RESOLVED" and posted.edits == 1
    assert posted.embeds == () and posted.attachments == () and posted.components == ()
    assert posted.history[0]["content"] == "FIRING"
    assert posted.history[0]["attachments"][0]["filename"] == "chart.png"
    assert posted.nonce is not None  # discord.py always sends one, with enforce_nonce


async def test_an_edit_keeps_what_it_does_not_name(
    wire: FakeDiscord, client: discord.Client
) -> None:
    """Editing only the content leaves embeds, buttons and attachments as they were."""
    channel = client.get_partial_messageable(CHANNEL)
    file = discord.File(io.BytesIO(b"log"), "tail.txt")
    sent = await channel.send("a", embed=discord.Embed(title="t"), file=file, view=_view("Ack"))
    await sent.edit(content="b")
    [posted] = wire.messages(CHANNEL)
    assert posted.content == "b" and posted.embeds[0]["title"] == "t"
    assert posted.attachments[0]["filename"] == "tail.txt" and len(posted.components) == 1


async def test_a_reply_stores_its_reference(wire: FakeDiscord, client: discord.Client) -> None:
    """message_reference links the reply; the answer carries the referenced message."""
    first = await client.get_partial_messageable(CHANNEL).send("FIRING")
    reply = await first.reply("still firing")
    assert reply.reference is not None and reply.reference.message_id == first.id
    assert [m.reference for m in wire.messages(CHANNEL)] == [None, first.id]


async def test_a_reply_to_an_unknown_message_is_50035(client: discord.Client) -> None:
    """A reference to a message that does not exist is refused, naming message_reference."""
    ghost = client.get_partial_messageable(CHANNEL).get_partial_message(1200000000000000999)
    with pytest.raises(discord.HTTPException) as caught:
        await ghost.reply("hello")
    assert caught.value.code == 50035 and "message_reference" in caught.value.text


async def test_webhook_send_wait_and_edit(
    wire: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    """Webhook.from_url (the URL only parsed) posts to the fake, wait=True answers, edit works."""
    hook = discord.Webhook.from_url(wire.webhook_url(WEBHOOK_ID), session=session)
    file = discord.File(io.BytesIO(b"\x89PNG"), "chart.png")
    sent = await hook.send("FIRING", embed=discord.Embed(title="t"), file=file, wait=True)
    assert sent.webhook_id == WEBHOOK_ID and sent.author.name == "homelab-alerts"
    edited = await sent.edit(content="RESOLVED")
    assert edited.content == "RESOLVED"
    [posted] = wire.messages(CHANNEL)
    assert posted.webhook_id == WEBHOOK_ID and posted.edits == 1
    assert posted.attachments[0]["filename"] == "chart.png"
    assert "Authorization" not in wire.requests_to("POST", "/webhooks/")[0].headers
    assert wire.requests_to("PATCH", rf"/webhooks/{WEBHOOK_ID}/.+/messages/{sent.id}$")


async def test_webhook_without_wait_is_204(
    wire: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    """wait=False answers 204 with no body; the message exists all the same."""
    hook = discord.Webhook.partial(WEBHOOK_ID, WEBHOOK_TOKEN, session=session)
    assert await hook.send("FIRING", username="alertmanager") is None
    assert _statuses(wire, "POST", "/webhooks/.+") == [204]
    [posted] = wire.messages(CHANNEL)
    assert posted.content == "FIRING" and wire.requests[-1].query["wait"] == "0"


@pytest.mark.parametrize(
    ("webhook_id", "token", "status", "code"),
    [(WEBHOOK_ID, "y" * 68, 401, 50027), (WEBHOOK_ID + 1, WEBHOOK_TOKEN, 404, 10015)],
)
async def test_a_wrong_webhook_token_is_401_an_unknown_webhook_404(
    wire: FakeDiscord,
    session: aiohttp.ClientSession,
    webhook_id: int,
    token: str,
    status: int,
    code: int,
) -> None:
    """Invalid Webhook Token is 401 (50027), Unknown Webhook 404 (10015), as Discord answers."""
    hook = discord.Webhook.partial(webhook_id, token, session=session)
    with pytest.raises(discord.HTTPException) as caught:
        await hook.send("FIRING", wait=True)
    assert caught.value.status == status and caught.value.code == code
    assert wire.messages(CHANNEL) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"content": "x" * 2001}, "content"),
        ({"embed": discord.Embed(title="t" * 257)}, "embeds.0.title"),
        ({"embed": discord.Embed(description="d" * 4097)}, "embeds.0.description"),
        ({"embed": discord.Embed().add_field(name="n" * 257, value="v")}, "embeds.0.fields.0.name"),
        (
            {"embed": discord.Embed().add_field(name="n", value="v" * 1025)},
            "embeds.0.fields.0.value",
        ),
        ({"embed": discord.Embed().set_footer(text="f" * 2049)}, "embeds.0.footer.text"),
        ({"embed": discord.Embed().set_author(name="a" * 257)}, "embeds.0.author.name"),
        ({"embeds": [discord.Embed(description="d" * 3001)] * 2}, "embeds"),
        ({"view": _view("l" * 81)}, "components.0.components.0.label"),
    ],
)
async def test_limits_are_refused_with_50035_naming_the_field(
    wire: FakeDiscord, client: discord.Client, kwargs: dict[str, Any], field: str
) -> None:
    """What Discord refuses, the fake refuses: 400 Invalid Form Body naming the field."""
    with pytest.raises(discord.HTTPException) as caught:
        await client.get_partial_messageable(CHANNEL).send(**kwargs)
    assert caught.value.status == 400 and caught.value.code == 50035
    assert f"In {field}:" in caught.value.text
    assert wire.messages(CHANNEL) == []


async def test_26_fields_are_refused(client: discord.Client) -> None:
    """An embed with 26 fields is 50035 on embeds.0.fields."""
    embed = discord.Embed()
    for i in range(26):
        embed.add_field(name=f"n{i}", value="v")
    with pytest.raises(discord.HTTPException) as caught:
        await client.get_partial_messageable(CHANNEL).send(embed=embed)
    assert caught.value.code == 50035 and "In embeds.0.fields:" in caught.value.text


def _row(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(items)}


def _button(
    custom_id: str | None = "a", label: str = "Ack", style: int = 2, **extra: Any
) -> dict[str, Any]:
    out = {"type": 2, "style": style, "label": label, **extra}
    if custom_id is not None:
        out["custom_id"] = custom_id
    return out


@pytest.mark.parametrize(
    ("payload", "error_path", "code"),
    [
        ({"content": "x" * 2001}, ["content"], "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"title": "t"}] * 11}, ["embeds"], "BASE_TYPE_MAX_LENGTH"),
        (
            {"embeds": [{"fields": [{"name": "", "value": "v"}]}]},
            ["embeds", "0", "fields", "0", "name"],
            "BASE_TYPE_REQUIRED",
        ),
        (
            {"components": [_row(_button(f"b{i}")) for i in range(6)]},
            ["components"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"components": [_row(*[_button(f"b{i}") for i in range(6)])]},
            ["components", "0", "components"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"components": [_row(_button(""))]},
            ["components", "0", "components", "0", "custom_id"],
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            {"components": [_row(_button("c" * 101))]},
            ["components", "0", "components", "0", "custom_id"],
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            {"components": [_row(_button(None))]},
            ["components", "0", "components", "0", "custom_id"],
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            {"components": [_row(_button("a"), _button("a"))]},
            ["components", "0", "components", "1", "custom_id"],
            "COMPONENT_CUSTOM_ID_DUPLICATED",
        ),
        (
            {"components": [_row(_button(None, style=5))]},
            ["components", "0", "components", "0", "url"],
            "BASE_TYPE_REQUIRED",
        ),
        (
            {"components": [_row(_button("a", style=5, url="https://x"))]},
            ["components", "0", "components", "0", "custom_id"],
            "BUTTON_LINK_CUSTOM_ID",
        ),
        (
            {"components": [_row({"type": 3, "custom_id": "s", "options": []}, _button("b"))]},
            ["components", "0", "components"],
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
        ),
        ({"components": [_button("a")]}, ["components", "0", "type"], "COMPONENT_TYPE_INVALID"),
        (
            {"content": "x", "attachments": [{"id": i, "filename": "f"} for i in range(11)]},
            ["attachments"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        ({"content": "x", "nonce": "n" * 26}, ["nonce"], "BASE_TYPE_MAX_LENGTH"),
    ],
)
def test_invalid_message_payloads_get_50035(
    payload: dict[str, Any], error_path: list[str], code: str
) -> None:
    """Each documented message limit is a 400 Invalid Form Body naming the field."""
    problem = validate_message(payload)
    assert problem is not None
    status, body = problem
    assert status == 400 and body["code"] == 50035
    node = body["errors"]
    for key in error_path:
        node = node[key]
    assert code in [e["code"] for e in node["_errors"]]


def test_valid_messages_pass_at_the_limits() -> None:
    """Exactly at each limit is allowed: 2000 content, 10 embeds of 600, 5x5 buttons, a link."""
    rows = [_row(*[_button(f"b{r}{i}", "l" * 80) for i in range(5)]) for r in range(4)]
    rows.append(_row(_button(None, style=5, url="https://grafana.local")))
    payload = {
        "content": "x" * 2000,
        "embeds": [{"title": "t" * 256, "description": "d" * 344}] * 10,
        "components": rows,
    }
    assert validate_message(payload) is None
    assert validate_message({"components": [_row(_button("c" * 100))]}) is None


async def test_eleven_files_are_refused(wire: FakeDiscord) -> None:
    """11 files in one upload are 50035 on attachments (sent raw: discord.py stops it first)."""
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps({"content": "x"}))
    for i in range(11):
        form.add_field(f"files[{i}]", b"x", filename=f"{i}.txt")
    headers = {"Authorization": f"Bot {TOKEN}"}
    async with (
        aiohttp.ClientSession() as s,
        s.post(wire.api_base + MESSAGES, data=form, headers=headers) as r,
    ):
        body = await r.json()
    assert r.status == 400 and "attachments" in body["errors"]
    assert len(wire.requests[-1].files) == 11


async def test_a_file_over_10_mib_is_413(wire: FakeDiscord, client: discord.Client) -> None:
    """10 MiB passes; one byte more is 413 Request entity too large (40005)."""
    channel = client.get_partial_messageable(CHANNEL)
    limit = 10 * 1024 * 1024
    await channel.send(file=discord.File(io.BytesIO(b"\0" * limit), "ok.bin"))
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(file=discord.File(io.BytesIO(b"\0" * (limit + 1)), "big.bin"))
    assert caught.value.status == 413 and caught.value.code == 40005
    assert [m.attachments[0]["size"] for m in wire.messages(CHANNEL)] == [limit]


async def test_an_empty_message_is_50006(wire: FakeDiscord, client: discord.Client) -> None:
    """No content, embeds, files or components: 400 Cannot send an empty message."""
    with pytest.raises(discord.HTTPException) as caught:
        await client.get_partial_messageable(CHANNEL).send()
    assert caught.value.status == 400 and caught.value.code == 50006
    sent = await client.get_partial_messageable(CHANNEL).send("x")
    with pytest.raises(discord.HTTPException) as caught:
        await sent.edit(content="")  # an edit that would leave nothing is refused too
    assert caught.value.code == 50006


async def test_a_429_with_via_is_waited_out_and_the_message_created_once(
    wire: FakeDiscord, client: discord.Client
) -> None:
    """discord.py sleeps retry_after and retries; the fake made the message exactly once."""
    wire.rate_limit("POST", MESSAGES + "$", retry_after=0.3)
    started = time.monotonic()
    sent = await client.get_partial_messageable(CHANNEL).send("FIRING")
    assert time.monotonic() - started >= 0.3
    assert _statuses(wire) == [429, 200]
    assert [m.id for m in wire.messages(CHANNEL)] == [sent.id]
    assert wire.invalid_requests == 1


async def test_a_429_without_via_is_raised(wire: FakeDiscord, client: discord.Client) -> None:
    """A 429 without Via reads as a Cloudflare ban: discord.py raises, nothing is created."""
    wire.rate_limit("PATCH", MESSAGES + r"/\d+$", via=False)
    sent = await client.get_partial_messageable(CHANNEL).send("FIRING")
    with pytest.raises(discord.HTTPException) as caught:
        await sent.edit(content="RESOLVED")
    assert caught.value.status == 429
    assert wire.messages(CHANNEL)[0].content == "FIRING"


async def test_enforce_nonce_dedupes(wire: FakeDiscord, client: discord.Client) -> None:
    """The same nonce with enforce_nonce answers the existing message and creates nothing."""
    channel = client.get_partial_messageable(CHANNEL)
    first = await channel.send("FIRING", nonce="alert-1")
    again = await channel.send("FIRING (retry)", nonce="alert-1")
    other = await client.get_partial_messageable(OTHER_CHANNEL).send("FIRING", nonce="alert-1")
    assert again.id == first.id and again.content == "FIRING"
    assert [m.content for m in wire.messages(CHANNEL)] == ["FIRING"]
    assert other.id != first.id  # a nonce is unique per channel


async def test_without_enforce_nonce_the_same_nonce_creates_again(wire: FakeDiscord) -> None:
    """A nonce alone (no enforce_nonce) is only echoed back: two messages."""
    for _ in range(2):
        status, _, body = await _call(
            wire, "POST", f"/channels/{CHANNEL}/messages", body={"content": "x", "nonce": "n1"}
        )
        assert status == 200 and body["nonce"] == "n1"
    assert [m.nonce for m in wire.messages(CHANNEL)] == ["n1", "n1"]


async def test_a_lost_answer_is_retried_and_deduped_by_the_nonce(
    wire: FakeDiscord, client: discord.Client
) -> None:
    """A 500 after the message was made: discord.py retries with the same nonce; one message."""
    wire.fail("POST", MESSAGES + "$", 500, commit=True)
    sent = await client.get_partial_messageable(CHANNEL).send("FIRING")
    assert _statuses(wire) == [500, 200]
    assert [m.id for m in wire.messages(CHANNEL)] == [sent.id]
    assert wire.injected == [("POST", f"/api/v10/channels/{CHANNEL}/messages", 500)]


@pytest.mark.parametrize(
    ("status", "retried"), [(500, True), (502, True), (504, True), (503, False)]
)
async def test_server_errors_are_retried_or_raised(
    wire: FakeDiscord, client: discord.Client, status: int, retried: bool
) -> None:
    """discord.py 2.7 retries 500/502/504 (after 1 s) and raises DiscordServerError on a 503."""
    wire.fail("POST", MESSAGES + "$", status)
    channel = client.get_partial_messageable(CHANNEL)
    if retried:
        await channel.send("FIRING")
        assert _statuses(wire) == [status, 200]
    else:
        with pytest.raises(discord.DiscordServerError):
            await channel.send("FIRING")
        assert _statuses(wire) == [status]
    assert len(wire.messages(CHANNEL)) == int(retried)


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, discord.HTTPException), (403, discord.Forbidden), (404, discord.NotFound)],
)
async def test_injected_client_errors_raise(
    wire: FakeDiscord, client: discord.Client, status: int, error: type[Exception]
) -> None:
    """fail() with a 4xx raises the matching discord.py error, once; the next send goes through."""
    wire.fail("POST", MESSAGES + "$", status)
    channel = client.get_partial_messageable(CHANNEL)
    with pytest.raises(error):
        await channel.send("FIRING")
    await channel.send("FIRING")
    assert _statuses(wire) == [status, 200] and len(wire.messages(CHANNEL)) == 1


async def test_forbidden_and_unknown_channels_and_messages(
    wire: FakeDiscord, client: discord.Client
) -> None:
    """403 Missing Access (counted as invalid), 404 Unknown Channel and Unknown Message."""
    wire.forbid_channel(OTHER_CHANNEL)
    with pytest.raises(discord.Forbidden) as forbidden:
        await client.get_partial_messageable(OTHER_CHANNEL).send("x")
    assert forbidden.value.code == 50001 and wire.invalid_requests == 1
    with pytest.raises(discord.NotFound) as unknown_channel:
        await client.get_partial_messageable(1200000000000000099).send("x")
    assert unknown_channel.value.code == 10003
    ghost = client.get_partial_messageable(CHANNEL).get_partial_message(1200000000000000999)
    with pytest.raises(discord.NotFound) as unknown_message:
        await ghost.edit(content="x")
    assert unknown_message.value.code == 10008


async def test_quick_sends_respect_the_channel_bucket_in_order(
    wire: FakeDiscord, client: discord.Client
) -> None:
    """12 quick sends at 5 per 0.5 s: discord.py reads the headers and waits; no 429, in order."""
    wire.channel_rate(limit=5, per=0.5)
    channel = client.get_partial_messageable(CHANNEL)
    started = time.monotonic()
    for i in range(12):
        await channel.send(f"alert {i}")
    assert time.monotonic() - started >= 2 * 0.5  # two full windows were waited out
    assert [m.content for m in wire.messages(CHANNEL)] == [f"alert {i}" for i in range(12)]
    assert _statuses(wire) == [200] * 12  # waited before each full bucket, never refused


async def test_concurrent_sends_are_each_created_once(
    wire: FakeDiscord, client: discord.Client
) -> None:
    """12 concurrent sends through one bucket: every message exactly once, none lost."""
    wire.channel_rate(limit=5, per=0.5)
    channel = client.get_partial_messageable(CHANNEL)
    sent = await asyncio.gather(*(channel.send(f"alert {i}") for i in range(12)))
    contents = [m.content for m in wire.messages(CHANNEL)]
    assert sorted(contents) == sorted(f"alert {i}" for i in range(12))
    assert len({m.id for m in sent}) == 12


async def test_the_channel_bucket_is_shared_by_post_and_patch_with_honest_headers(
    wire: FakeDiscord,
) -> None:
    """POST and PATCH in one channel draw on one bucket; another channel has its own."""
    wire.channel_rate(limit=2, per=5.0)
    path = f"/channels/{CHANNEL}/messages"
    status, headers, created = await _call(wire, "POST", path, body={"content": "a"})
    assert status == 200 and headers["X-RateLimit-Limit"] == "2"
    assert headers["X-RateLimit-Remaining"] == "1"
    assert 4.9 < float(headers["X-RateLimit-Reset-After"]) <= 5.0
    status, edit_headers, _ = await _call(
        wire, "PATCH", f"{path}/{created['id']}", body={"content": "b"}
    )
    assert status == 200 and edit_headers["X-RateLimit-Remaining"] == "0"
    assert edit_headers["X-RateLimit-Bucket"] == headers["X-RateLimit-Bucket"]
    status, limited, body = await _call(wire, "POST", path, body={"content": "c"})
    assert status == 429 and limited["Via"] and 0 < body["retry_after"] <= 5.0
    status, _, _ = await _call(
        wire, "POST", f"/channels/{OTHER_CHANNEL}/messages", body={"content": "d"}
    )
    assert status == 200


async def test_a_webhook_retries_any_server_error(
    wire: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    """discord.py's webhook adapter retries every 5xx, a 503 too, unlike the bot's client."""
    wire.fail("POST", r"/webhooks/", 503)
    hook = discord.Webhook.from_url(wire.webhook_url(WEBHOOK_ID), session=session)
    sent = await hook.send("FIRING", wait=True)
    assert _statuses(wire, "POST", "/webhooks/.+") == [503, 200]
    assert [m.id for m in wire.messages(CHANNEL)] == [sent.id]
