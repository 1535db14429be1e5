"""The Discord alert targets against the local fake of Discord (tests/harness/fakediscord.py),
driven by the real discord.py: a message that needs fewer parts after an edit leaves no stale
part behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from bot.domain.messages import Embed, Message
from bot.interfaces.discord.delivery import WebhookTarget
from bot.services.delivery import DeliveryError
from tests.harness.fakediscord import FakeDiscord

TOKEN = "canary-targets-Wq8rT3xW9vKp2LmN"
CHANNEL = 1300000000000000010
WEBHOOK_ID = 1300000000000000020
WEBHOOK_TOKEN = "wh-" + "y" * 65  # discord.py's from_url wants 60+ characters


@pytest.fixture
async def wire(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """A running fake with a channel and a webhook; discord.py's Route.BASE points at it."""
    async with FakeDiscord(TOKEN, channel_ids=[CHANNEL]) as f:
        f.add_webhook(WEBHOOK_ID, WEBHOOK_TOKEN, CHANNEL)
        monkeypatch.setattr(discord.http.Route, "BASE", f.api_base)
        yield f


def cards(n: int, state: str) -> Message:
    """A message of `n` alert embeds (more than 10 is two Discord messages)."""
    return Message(
        text=f"[{state}] {n} alerts",
        embeds=tuple(Embed(title=f"[{state}] alert {i}", description="x") for i in range(n)),
    )


async def test_a_webhook_edit_to_fewer_parts_deletes_the_stale_ones(
    wire: FakeDiscord, tmp_path: Path
) -> None:
    """Twelve alerts were two webhook messages; edited down to three they are one, and the
    second message (still showing FIRING) is gone, as the channel target does."""
    url_file = tmp_path / "hook-url"
    url_file.write_text(wire.webhook_url(WEBHOOK_ID) + "\n")
    async with aiohttp.ClientSession() as session:
        target = WebhookTarget(url_file, session)
        ids = await target.post(cards(12, "FIRING"), "n" * 24)
        assert len(ids) == 2 and len(wire.messages(CHANNEL)) == 2
        out = await target.edit(ids, cards(3, "RESOLVED"))
    assert out == ids[:1]
    [left] = wire.messages(CHANNEL)
    assert left.id == ids[0] and "RESOLVED" in left.content


async def test_a_webhook_post_failing_after_a_part_names_the_part_posted(
    wire: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network fails on the second part: the error carries the first part's id, so the
    worker can complete the message rather than post it twice (webhooks take no nonce)."""
    url_file = tmp_path / "hook-url"
    url_file.write_text(wire.webhook_url(WEBHOOK_ID) + "\n")
    send = discord.Webhook.send
    calls: list[int] = []

    async def flaky(self: discord.Webhook, *args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise aiohttp.ClientConnectionError("connection reset")
        return await send(self, *args, **kw)

    monkeypatch.setattr(discord.Webhook, "send", flaky)
    async with aiohttp.ClientSession() as session:
        target = WebhookTarget(url_file, session)
        with pytest.raises(DeliveryError) as caught:
            await target.post(cards(12, "FIRING"), "n" * 24)
    [posted] = wire.messages(CHANNEL)
    assert caught.value.ids == (posted.id,) and not caught.value.final
