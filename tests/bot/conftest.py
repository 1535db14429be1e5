"""Fixtures of the bot tests: settings on temporary paths, a wired runtime, a simcord bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.interfaces.discord.client import HomelabBot
from bot.interfaces.runtime import Runtime
from bot.settings import BotSettings
from tests.harness.services import free_port

ADMIN_ID = 9001
OPERATOR_ROLE = 7002
ADMIN_ROLE = 7003


def make_settings(tmp_path: Path, **overrides: Any) -> BotSettings:
    """Settings with the database and images under tmp_path, Prometheus on a dead port."""
    base: dict[str, Any] = {
        "database_path": tmp_path / "bot.sqlite3",
        "image_dir": tmp_path / "images",
        "prometheus": {"url": f"http://127.0.0.1:{free_port()}", "timeout_seconds": 2.0},
        "discord": {"owner_ids": [ADMIN_ID]},
        "roles": {
            "operator": {"role_ids": [OPERATOR_ROLE]},
            "admin": {"role_ids": [ADMIN_ROLE]},
            "default": "viewer",
        },
        "web": {"port": 0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return BotSettings(**base)


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., BotSettings]:
    """Build settings for this test: `settings_factory(prometheus={"url": ...})`."""
    return lambda **kw: make_settings(tmp_path, **kw)


@pytest.fixture
def bot_settings(settings_factory: Callable[..., BotSettings]) -> BotSettings:
    """Default test settings (Prometheus unreachable)."""
    return settings_factory()


@pytest.fixture
async def runtime(bot_settings: BotSettings) -> AsyncIterator[Runtime]:
    """A runtime on the test settings, closed afterwards."""
    rt = await Runtime.build(bot_settings)
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def simcord_bot(runtime: Runtime) -> HomelabBot:
    """The real bot on the test runtime, for simcord_env."""
    return HomelabBot(runtime.settings, runtime.core)
