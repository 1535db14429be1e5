"""The reports' pure parts: periods and schedule times across time zones and DST, the
statistics, the alert summary, the disk forecast and the section registry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.reports import sections
from bot.domain.reports.model import (
    AlertSummary,
    DiskForecast,
    Episode,
    ReportData,
    last_due,
    percentile,
    period_ending,
    summarise_alerts,
    summed,
    usage_of,
    worst,
)
from bot.domain.reports.sections import SECTIONS, SectionView, register, views

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_daily_period_across_the_dst_change_is_23_hours_of_wall_clock_day() -> None:
    """The day ending 08:00 on 29 March 2026 in Berlin (clocks went forward) is 23 hours."""
    p = period_ending("daily", datetime(2026, 3, 29, 8, 0, tzinfo=BERLIN))
    assert p.start == datetime(2026, 3, 28, 8, 0, tzinfo=BERLIN)
    assert p.seconds == 23 * 3600
    assert p.key == "daily:2026-03-29T08:00+02:00"
    with pytest.raises(ValueError, match="aware"):
        period_ending("daily", datetime(2026, 3, 30, 8, 0))


def test_last_due_is_the_latest_local_time_at_or_before_now() -> None:
    """Daily 08:00: before 08:00 it is yesterday's; weekly mon 08:00 from a Wednesday."""
    wed_0759 = datetime(2026, 12, 2, 7, 59, tzinfo=BERLIN)
    assert last_due("daily", wed_0759, "08:00") == datetime(2026, 12, 1, 8, 0, tzinfo=BERLIN)
    wed_0800 = datetime(2026, 12, 2, 8, 0, tzinfo=BERLIN)
    assert last_due("daily", wed_0800, "08:00") == wed_0800
    assert last_due("weekly", wed_0800, "08:00", "mon") == datetime(2026, 11, 30, 8, 0,
                                                                     tzinfo=BERLIN)  # fmt: skip
    mon_0700 = datetime(2026, 11, 30, 7, 0, tzinfo=BERLIN)
    assert last_due("weekly", mon_0700, "08:00", "mon") == datetime(2026, 11, 23, 8, 0,
                                                                     tzinfo=BERLIN)  # fmt: skip


def test_statistics_p95_max_sum_and_worst() -> None:
    """p95 interpolates like numpy; NaNs are left out; CPU modes add up, disks take the max."""
    assert percentile([1, 2, 3, 4, 5], 0.95) == pytest.approx(4.8)
    u = usage_of([(0, 0.1), (1, float("nan")), (2, 0.5)])
    assert u is not None and u.maximum == 0.5 and u.points == 2
    assert usage_of([]) is None
    assert summed([[(0, 0.1), (1, 0.2)], [(0, 0.3)]]) == ((0, pytest.approx(0.4)), (1, 0.2))
    assert worst([[(0, 0.1), (1, 0.9)], [(0, 0.3)]]) == ((0, 0.3), (1, 0.9))


def test_alert_summary_counts_severity_mttr_and_noisiest() -> None:
    """Critical first; MTTR over resolved episodes only; ties of noisiest by name."""
    eps = [
        Episode("B", "warning", "nas", 0, 600),
        Episode("A", "critical", "nas", 0, 1800),
        Episode("B", "warning", "pi", 100, None),
        Episode("C", "", "pi", 100, 100),
    ]
    s = summarise_alerts(eps, top=2)
    assert s.by_severity == (("critical", 1), ("warning", 2), ("none", 1))
    assert s.mttr_seconds == pytest.approx((600 + 1800 + 0) / 3)
    assert s.noisiest == (("B", 2), ("A", 1)) and s.still_firing == 1


def test_disk_forecast_days_left() -> None:
    """Free / daily loss; a growing or steady disk is not filling; a full one is 0 days."""
    assert DiskForecast("nas", "/", 100.0, -25.0).days_left == 4.0
    assert DiskForecast("nas", "/", 100.0, 5.0).days_left is None
    assert DiskForecast("nas", "/", 0.0, -5.0).days_left == 0.0


def _data(**kw: object) -> ReportData:
    period = period_ending("daily", datetime(2026, 12, 3, 8, tzinfo=UTC))
    base: dict[str, object] = {
        "period": period, "host": "", "hosts": (), "disks": (),
        "alerts": AlertSummary(0, (), None, (), 0),
    }  # fmt: skip
    base.update(kw)
    return ReportData(**base)  # type: ignore[arg-type]


@pytest.fixture
def extra_section() -> Iterator[str]:
    """A section registered for one test, then removed."""

    @register(name="zz-test", title="Test section", order=35)
    def _view(data: ReportData) -> SectionView | None:
        return SectionView(lines=(f"{len(data.hosts)} hosts",))

    try:
        yield "zz-test"
    finally:
        del SECTIONS["zz-test"]


def test_a_registered_section_shows_in_its_place_and_names_must_be_new(extra_section: str) -> None:
    """register() adds a section between disks (30) and alerts (40); a name twice is refused;
    the projects hook shows only when its data is there."""
    names = [s.name for s, _ in views(_data())]
    assert names == ["availability", "disks", extra_section, "alerts"]
    assert views(_data())[2][1].title == "Test section"
    with pytest.raises(ValueError, match="twice"):
        register(name="alerts", title="x", order=1)(lambda d: None)
    projects = SectionView(lines=("2 projects on track",))
    shown = dict((s.name, v) for s, v in views(_data(extra={"projects": projects})))
    assert shown["projects"].lines == ("2 projects on track",)
    assert sections.duration(3 * 3600 + 20 * 60) == "3 h 20 min"
