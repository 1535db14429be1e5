"""Due dates as people type them, in the guild's time zone: `2026-12-24`, `24.12.`, `fri`,
`friday`, `today`, `tomorrow`, `+3d`, `+2w`. A task is due at the end of that day.

Example::

    now = datetime(2026, 12, 3, 17, 0, tzinfo=ZoneInfo("Europe/Berlin"))   # a Thursday
    parse_due("fri", now).date()       # date(2026, 12, 4)
    parse_due("+3d", now).date()       # date(2026, 12, 6)
    parse_due("2026-12-01", now)       # DueDateError: ... is in the past ...
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta

from bot.domain.projects.model import ProjectError

log = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PRESETS = (
    "today",
    "tomorrow",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "+1d",
    "+3d",
    "+1w",
    "+2w",
)
END_OF_DAY = time(23, 59, 59)
_RELATIVE = re.compile(r"\+(\d{1,3})([dw])")
_DAY_MONTH = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})?")


class DueDateError(ProjectError):
    """A due date that cannot be read, or lies in the past; `str()` says what to type."""


def parse_due(text: str, now: datetime) -> datetime:
    """The end of the day `text` names, in `now`'s time zone (`now` must be aware)."""
    if now.tzinfo is None:
        raise ValueError("parse_due needs an aware datetime")
    raw = text.strip().lower()
    today = now.date()
    day = _day(raw, today)
    if day is None:
        raise DueDateError(
            f"I cannot read {text!r} as a date; type 2026-12-24, 24.12., a weekday (fri), "
            "today, tomorrow or +3d."
        )
    if day < today:
        raise DueDateError(
            f"{day.isoformat()} is in the past; give today ({today.isoformat()}) or a later day."
        )
    return datetime.combine(day, END_OF_DAY, tzinfo=now.tzinfo)


def _day(raw: str, today: date) -> date | None:
    if raw == "today":
        return today
    if raw == "tomorrow":
        return today + timedelta(days=1)
    m = _RELATIVE.fullmatch(raw)
    if m:
        n = int(m[1])
        return today + timedelta(days=n * (7 if m[2] == "w" else 1))
    for i, name in enumerate(WEEKDAYS):
        if len(raw) >= 3 and name.startswith(raw):
            # The next such day; today's own weekday means today.
            return today + timedelta(days=(i - today.weekday()) % 7)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    m = _DAY_MONTH.fullmatch(raw)
    if m:
        try:
            d = date(int(m[3] or today.year), int(m[2]), int(m[1]))
        except ValueError:
            return None
        # 24.12. without a year: the next 24 December.
        return d.replace(year=d.year + 1) if not m[3] and d < today else d
    return None
