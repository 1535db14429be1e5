"""The step rule, the aligned window, source selection and InfluxQL placeholders."""

from __future__ import annotations

import pytest

from bot.domain.charts import RANGES, InfluxQuery
from bot.domain.ranges import SourceChoice, chart_step, choose_source, influxql, plan_range

DAY = 86400.0


def test_step_is_the_scrape_interval_until_the_range_needs_fewer_points() -> None:
    """15m and 1h step at the scrape interval; 24h at range/1200 = 72 s; 30d at 2160 s."""
    steps = {name: chart_step(seconds, 15, 1200) for name, seconds in RANGES}
    assert steps == {"15m": 15, "1h": 15, "6h": 18, "24h": 72, "7d": 504, "30d": 2160}
    assert chart_step(100, 0.5, 1200) == 1  # never below a second
    assert chart_step(3601, 1, 1200) == 4  # rounded up: never more points than pixels


@pytest.mark.parametrize(("name", "seconds"), RANGES)
def test_no_range_asks_for_more_points_than_the_plot_is_wide(name: str, seconds: float) -> None:
    """(end - start) / step + 1 <= width + 1 for every offered range."""
    plan = plan_range(1_765_000_123.4, seconds, 15, 1200)
    assert (plan.end - plan.start) / plan.step <= 1200
    assert plan.end - plan.start >= seconds  # the whole range is shown


def test_same_chart_within_one_step_is_the_same_window() -> None:
    """Every `now` inside one step gives one plan (a cache key) whose end is the next step
    boundary, so the newest data is inside; the next step moves it."""
    step = 72.0
    base = 1_765_000_000.0 // step * step
    plans = {plan_range(base + dt, DAY) for dt in (0, 1.5, 30, 71.999)}
    assert len(plans) == 1
    (plan,) = plans
    assert plan.end == base + step and plan.step == step and plan.start == base + step - DAY
    assert plan_range(base + step, DAY).end == base + 2 * step


def test_long_ranges_go_to_influxdb_when_it_can_serve_them() -> None:
    """Past the retention: InfluxDB if configured, else clipped; within it, the chart's own."""
    ret = 15 * DAY
    assert choose_source(30 * DAY, ret, influx=True) == SourceChoice("influxdb")
    assert choose_source(30 * DAY, ret, influx=False) == SourceChoice("prometheus", ret)
    assert choose_source(DAY, ret, influx=True) == SourceChoice("prometheus")
    assert choose_source(DAY, ret, influx=True, prefer="influxdb") == SourceChoice("influxdb")
    assert choose_source(DAY, ret, influx=False, prefer="influxdb") == SourceChoice("prometheus")


def test_influxql_fills_placeholders_and_groups_by_the_step() -> None:
    """$timeFilter in whole seconds, $interval as the step, $host a regex, GROUP BY appended."""
    q = InfluxQuery(
        'SELECT mean("usage_user") FROM "cpu" WHERE "host" =~ /^$host$/ AND $timeFilter',
        legend_tag="cpu",
    )
    assert influxql(q, 1000.0, 4600.0, 72.0, "nas-1.lan") == (
        'SELECT mean("usage_user") FROM "cpu" WHERE "host" =~ /^nas\\-1\\.lan$/ AND '
        'time >= 1000s AND time <= 4600s GROUP BY time(72s), "cpu" fill(none)'
    )
    assert "/^.+$/" in influxql(q, 0, 60, 15, "")
    own = InfluxQuery('SELECT last("x") FROM "m" WHERE $timeFilter GROUP BY time($interval)')
    assert influxql(own, 0, 60, 15).endswith("GROUP BY time(15s)")
    assert "\\/" in influxql(q, 0, 60, 15, "a/b")  # a slash cannot end the regex literal
