"""Check HOMELAB_<SECTION>__<FIELD> variable names against the programs' settings classes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.settings import BotSettings
from exporter.settings import ExporterSettings

SECTIONS: dict[str, Any] = {"EXPORTER": ExporterSettings, "BOT": BotSettings}


def unknown_settings(keys: Iterable[str]) -> list[str]:
    """The HOMELAB_* names among `keys` that name no setting (pydantic ignores those silently)."""
    bad = []
    for key in keys:
        if not key.startswith("HOMELAB_") or key == "HOMELAB_CONFIG":
            continue
        section, _, rest = key.removeprefix("HOMELAB_").partition("__")
        model = SECTIONS.get(section)
        for part in rest.split("__"):
            fields = getattr(model, "model_fields", {})
            if part.lower() not in fields:
                bad.append(key)
                break
            model = fields[part.lower()].annotation
    return bad
