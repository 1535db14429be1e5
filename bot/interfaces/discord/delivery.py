"""Alert delivery to Discord: a channel through the bot, or a Discord webhook URL.

Both render through the one renderer (split, validated, mentions only for allowed roles).
discord.py waits out 429s itself, per bucket, keeping order; what is left is mapped onto the
worker's two cases: transient (5xx, network) and final (400, 403, 404: dead-letter).

A new message is sent with a nonce and `enforce_nonce` (discord.py sets it with `nonce`), so
sending it again after a crash returns the message Discord already created. A message that
can no longer be edited (deleted, or error 30046 for old messages) is posted anew.

Example::

    target = ChannelTarget(bot, channel_id=123, allowed_role_ids=[456])
    ids = await target.post(message, nonce)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import discord

from bot.domain.messages import Message
from bot.interfaces.discord.render import Rendered, render
from bot.services.delivery import DeliveryError

log = logging.getLogger(__name__)

# Error code of "too many edits to a message older than one hour" (field notes).
OLD_MESSAGE_EDITS = 30046


def _nonce(nonce: str, part: int) -> str:
    """Discord nonces are at most 25 characters: 22 of the planned one and the part number."""
    return f"{nonce[:22]}{part:02d}"


def delivery_error(exc: BaseException, where: str) -> DeliveryError:
    """A Discord failure as the worker's transient/final error, with a sentence."""
    if isinstance(exc, discord.HTTPException):
        status = exc.status
        final = status in (400, 401, 403, 404) or (400 <= status < 500 and status != 429)
        detail = exc.text or getattr(exc.response, "reason", "") or ""
        return DeliveryError(
            f"Discord answered {status} (code {exc.code}) for {where}: {detail}", final=final
        )
    if isinstance(exc, discord.RateLimited):
        return DeliveryError(
            f"Discord rate-limits {where} for {exc.retry_after:.0f} s", final=False
        )
    return DeliveryError(f"cannot reach Discord for {where}: {type(exc).__name__}: {exc}",
                         final=False)  # fmt: skip


def _partial(error: DeliveryError, ids: Sequence[int]) -> DeliveryError:
    """`error`, carrying the ids of the parts posted before it (the worker keeps them)."""
    return DeliveryError(error.reason, final=error.final, ids=ids)


TRANSIENT = (discord.HTTPException, discord.RateLimited, OSError, aiohttp.ClientError,
             asyncio.TimeoutError)  # fmt: skip


class ChannelTarget:
    """A channel the bot posts to; messages carry buttons the bot answers."""

    buttons = True
    graphs = False

    def __init__(
        self,
        bot: Any,
        channel_id: int,
        allowed_role_ids: Iterable[int] = (),
        *,
        replace_files: bool = False,
    ) -> None:
        self.bot = bot
        self.channel_id = channel_id
        self.allowed = list(allowed_role_ids)
        # An edit keeps the message's files (an alert's graph stays when it resolves) unless
        # told to replace them with the new message's (a dashboard's charts are redrawn).
        self.replace_files = replace_files

    @property
    def where(self) -> str:
        """How errors name this target."""
        return f"channel {self.channel_id}"

    async def _channel(self) -> Any:
        await self.bot.wait_until_ready()
        return self.bot.get_partial_messageable(self.channel_id)

    async def _send(self, channel: Any, part: Rendered, nonce: str | None) -> int:
        kw = part.kwargs(interaction=False)
        if nonce is not None:
            kw["nonce"] = nonce
        message = await channel.send(**kw)
        return int(message.id)

    async def post(self, msg: Message, nonce: str) -> list[int]:
        """Send every part of `msg`, each with its own nonce."""
        ids: list[int] = []
        try:
            channel = await self._channel()
            parts = await asyncio.to_thread(render, msg, self.allowed)
            for n, part in enumerate(parts):
                ids.append(await self._send(channel, part, _nonce(nonce, n)))
            return ids
        except TRANSIENT as exc:
            raise _partial(delivery_error(exc, self.where), ids) from exc

    async def edit(self, ids: Sequence[int], msg: Message) -> list[int]:
        """Edit the parts in place; post extra parts, delete parts no longer needed."""
        try:
            channel = await self._channel()
            parts = await asyncio.to_thread(render, msg, self.allowed)
            out: list[int] = []
            refused: list[int] = []  # error 30046: the old message stays unless deleted
            for n, part in enumerate(parts):
                if n < len(ids):
                    kw = part.kwargs(interaction=False)
                    files = kw.pop("files")
                    if self.replace_files:
                        kw["attachments"] = files
                    kw.setdefault("view", None)
                    try:
                        await channel.get_partial_message(ids[n]).edit(**kw)
                        out.append(ids[n])
                        continue
                    except discord.HTTPException as exc:
                        if exc.status != 404 and exc.code != OLD_MESSAGE_EDITS:
                            raise
                        log.info("message %d cannot be edited (%s); posting anew",
                                 ids[n], exc.code)  # fmt: skip
                        if exc.code == OLD_MESSAGE_EDITS:
                            refused.append(ids[n])
                out.append(await self._send(channel, part, None))
            for old in [*refused, *ids[len(parts) :]]:
                with contextlib.suppress(discord.NotFound):
                    await channel.get_partial_message(old).delete()
            return out
        except TRANSIENT as exc:
            raise delivery_error(exc, self.where) from exc

    async def delete(self, ids: Sequence[int]) -> None:
        """Delete the messages; those already gone are no error."""
        try:
            channel = await self._channel()
            for mid in ids:
                with contextlib.suppress(discord.NotFound):
                    await channel.get_partial_message(mid).delete()
        except TRANSIENT as exc:
            raise delivery_error(exc, self.where) from exc

    async def reply(self, ids: Sequence[int], msg: Message) -> None:
        """A reply under the first part of the message."""
        try:
            channel = await self._channel()
            for part in render(msg, self.allowed):
                kw = part.kwargs(interaction=False)
                kw["reference"] = channel.get_partial_message(ids[0])
                kw["mention_author"] = False
                await channel.send(**kw)
        except TRANSIENT as exc:
            raise delivery_error(exc, self.where) from exc


class WebhookTarget:
    """A Discord webhook URL, read from a file or given (from the vault secret `secret`): no
    bot needed, so no buttons; graphs attached."""

    buttons = False
    graphs = True

    def __init__(
        self,
        url_file: Path | None,
        session: aiohttp.ClientSession,
        *,
        secret: str = "",
        url: str = "",
    ) -> None:
        self.url_file = url_file
        self.session = session
        self.secret = secret
        self._url = url

    @property
    def where(self) -> str:
        """How errors name this target (never the URL: it is a secret)."""
        if self.url_file is None:
            return f"the webhook of vault secret {self.secret!r}"
        return f"the webhook in {self.url_file}"

    def _webhook(self) -> discord.Webhook:
        if self.url_file is None:
            if not self._url:
                raise DeliveryError(
                    f"no [bot.alerts] route has webhook_url = \"secret:{self.secret}\" any more: "
                    "put the route back to deliver what is still queued for it",
                    final=True,
                )
            url = self._url
        else:
            try:
                url = self.url_file.read_text().strip()
            except OSError as exc:
                raise DeliveryError(
                    f"cannot read [bot.alerts] webhook_url_file {self.url_file}: {exc.strerror}",
                    final=False,
                ) from None
        try:
            return discord.Webhook.from_url(url, session=self.session)
        except ValueError:
            raise DeliveryError(f"{self.where} is not a Discord webhook URL", final=True) from None

    async def post(self, msg: Message, nonce: str) -> list[int]:
        """Execute the webhook once per part (wait=True returns the message)."""
        hook = self._webhook()
        ids: list[int] = []
        try:
            for part in render(msg):
                kw = part.kwargs(interaction=False)
                kw.pop("view", None)
                sent = await hook.send(wait=True, **{k: v for k, v in kw.items() if v is not None})
                ids.append(int(sent.id))
            return ids
        except TRANSIENT as exc:
            raise _partial(delivery_error(exc, self.where), ids) from exc

    async def edit(self, ids: Sequence[int], msg: Message) -> list[int]:
        """Edit the webhook's messages in place; post extra parts, delete parts no longer needed."""
        hook = self._webhook()
        try:
            out: list[int] = []
            parts = render(msg)
            for n, part in enumerate(parts):
                kw = part.kwargs(interaction=False)
                kw.pop("view", None)
                files = kw.pop("files")
                if n < len(ids):
                    try:
                        await hook.edit_message(ids[n], **kw)
                        out.append(ids[n])
                        continue
                    except discord.NotFound:
                        pass
                sent = await hook.send(wait=True, files=files, **kw)
                out.append(int(sent.id))
            # A stale part would go on showing the old state (FIRING) under the edited one.
            for old in ids[len(parts) :]:
                with contextlib.suppress(discord.NotFound):
                    await hook.delete_message(old)
            return out
        except TRANSIENT as exc:
            raise delivery_error(exc, self.where) from exc

    async def reply(self, ids: Sequence[int], msg: Message) -> None:
        """Webhooks cannot reply; post the note as a message."""
        await self.post(msg, "")
