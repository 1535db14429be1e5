"""The dashboard factory from fixed data: every type's message within Discord's limits, the
registry matching the catalogue, the digest moving with the data only, and the live schedule
spreading refreshes within each channel's budget."""

from __future__ import annotations

import itertools

from bot.domain.catalogue.dashboards import TYPE_NAMES
from bot.domain.charts import Chart, ChartGrid, Series
from bot.domain.dashboards.alerts import AlertLine, AlertsData, HistoryLine, SilenceLine
from bot.domain.dashboards.fleet import GRID_PNG, FleetData
from bot.domain.dashboards.host import HostData
from bot.domain.dashboards.live import Dashboard, LiveSchedule, digest, shows_instances
from bot.domain.dashboards.model import Params, Registry, View
from bot.domain.dashboards.panels import fit_lines, status_list, table
from bot.domain.dashboards.types import REGISTRY
from bot.domain.dashboards.welcome import WelcomeData, welcome_problems
from bot.domain.messages import LinkButton, Message, Select, validate
from bot.domain.status import HostStatus, Target

NOW = 1_790_000_000.0
NAS = Target("nas:9100", "node", "nas")
PI = Target("pi:9100", "node", "pi")


def _chart(title: str, value: float) -> Chart:
    points = [(NOW - 3600 + i * 60, value + i) for i in range(60)]
    return Chart(title, (Series({"instance": "nas:9100"}, points),), NOW - 3600, NOW, step=60)


def _fleet(value: float = 1.0) -> FleetData:
    up = HostStatus(NAS, up=True, cpu_busy=12.0, mem_used=40.0, rootfs_used=61.0, load1=0.4,
                    cores=4, load_percent=10.0, uptime_seconds=90000)  # fmt: skip
    charts = tuple(_chart(t, value) for t in ("CPU", "Memory", "Network", "Load"))
    return FleetData((up, HostStatus(PI, up=False)), 2, charts)


def test_the_registry_is_the_catalogue_and_refuses_twins() -> None:
    """The command's type choices are the registry's names; a second `fleet` is refused."""
    assert tuple(REGISTRY) == TYPE_NAMES
    try:
        Registry(REGISTRY["fleet"], REGISTRY["fleet"])
    except ValueError as exc:
        assert "fleet" in str(exc)
    else:
        raise AssertionError("two types with one name were accepted")


def test_fleet_has_every_host_a_grid_and_the_live_controls() -> None:
    """Up and down hosts, the 2x2 grid drawn as one image, and Refresh, range and chart-this."""
    kind = REGISTRY["fleet"]
    params = Params("fleet", range="6h")
    drawings = kind.charts(params, _fleet())
    grid = drawings[GRID_PNG]
    assert isinstance(grid, ChartGrid) and len(grid.charts) == 4 and grid.columns == 2
    msg = kind.build(params, _fleet(), View(7, {GRID_PNG: b"png"}, ("nas", "pi")))
    assert validate(msg) == []
    text = msg.embeds[0].description
    assert "🟢 **nas**" in text and "🔴 **pi**: DOWN" in text
    assert msg.embeds[1].image == GRID_PNG and msg.images[0].filename == GRID_PNG
    ids = [c.custom_id for c in msg.components() if not isinstance(c, LinkButton)]
    assert ids[:2] == ["hl:dash.refresh:7", "hs:dash.range:7"]
    chart_this = next(c for c in msg.components() if isinstance(c, Select)
                      and c.custom_id == "hs:dash.chart:7")  # fmt: skip
    assert {o.value for o in chart_this.options} >= {"cpu|", "cpu|nas", "memory|pi"}
    once = kind.build(params, _fleet(), View(None, {GRID_PNG: b"png"}))
    assert once.rows == ()


def test_host_shows_its_alerts_and_a_host_select() -> None:
    """The host's detail, its firing alerts, and a host select of the known hosts."""
    status = _fleet().hosts[0]
    data = HostData(status, (), (AlertLine("DiskFull", "critical", "nas:9100", "92 %", NOW),))
    msg = REGISTRY["host"].build(Params("host", "nas"), data, View(3, {}, ("nas", "pi")))
    assert validate(msg) == []
    fields = {f.name: f.value for f in msg.embeds[0].fields}
    assert "DiskFull" in fields["Firing (1)"]
    hosts = next(c for c in msg.components() if isinstance(c, Select)
                 and c.custom_id == "hs:dash.host:3")  # fmt: skip
    assert [o.value for o in hosts.options] == ["nas", "pi"]


def test_alerts_by_severity_silences_history_and_a_chart_per_hour() -> None:
    """Worst first, counts per severity, silences, the day's numbers and an hourly chart."""
    data = AlertsData(
        firing=(AlertLine("Warm", "warning", "pi:9100", "", NOW - 60),
                AlertLine("DiskFull", "critical", "nas:9100", "92 % full", NOW - 600)),
        silences=(SilenceLine("s1", "instance=pi:9100", NOW + 3600, "olga"),),
        history=(HistoryLine("DiskFull", "critical", "nas", NOW - 7200, NOW - 5400),
                 HistoryLine("DiskFull", "critical", "nas", NOW - 3000, None)),
        now=NOW,
    )  # fmt: skip
    kind = REGISTRY["alerts"]
    (name, chart), = kind.charts(Params("alerts"), data).items()
    assert isinstance(chart, Chart) and sum(v for _, v in chart.series[0].points) == 2
    msg = kind.build(Params("alerts"), data, View(1, {name: b"png"}))
    assert validate(msg) == []
    e = msg.embeds[0]
    assert e.title == "Alerts: 2 firing (1 critical, 1 warning)"
    assert e.description.index("DiskFull") < e.description.index("Warm")
    fields = {f.name: f.value for f in e.fields}
    assert "olga" in fields["Silences (1)"] and "2 started" in fields["Last 24 h"]
    assert "30 m" in fields["Last 24 h"]  # the one resolved took 30 minutes


def test_welcome_text_counts_links_and_the_accept_button() -> None:
    """The server's text, live counts, link buttons, and the accept button on a live one."""
    data = WelcomeData("Read **the rules**", members=12, hosts_up=3, hosts=4, firing=1,
                       links=(("Grafana", "http://grafana.lan:3000"),),
                       accept_role=True)  # fmt: skip
    msg = REGISTRY["welcome"].build(Params("welcome"), data, View(5))
    assert validate(msg) == []
    body = msg.embeds[0].description
    assert body.startswith("Read **the rules**") and "3 of 4" in body and "12" in body
    kinds = [type(c).__name__ for c in msg.components()]
    assert kinds == ["LinkButton", "Button"]
    assert welcome_problems("x" * 4000, (("", "ftp://x"),)) == [
        "the welcome text has 4000 characters; at most 3500",
        "link label '' must have 1 to 80 characters",
        "link '': 'ftp://x' is not an http(s) URL",
    ]


def test_every_type_stays_within_limits_with_a_hundred_hosts_and_alerts() -> None:
    """A large fleet and many alerts still make valid messages (lines cut with a count)."""
    hosts = tuple(HostStatus(Target(f"h{i}:9100", "node", f"host-{i}"), up=i % 3 > 0,
                             cpu_busy=5.0) for i in range(100))  # fmt: skip
    firing = tuple(AlertLine(f"Alert{i}", "warning", f"h{i}:9100", "x" * 100, NOW)
                   for i in range(200))  # fmt: skip
    view = View(9, {}, tuple(f"host-{i}" for i in range(100)))
    for params, data in (
        (Params("fleet"), FleetData(hosts, 200)),
        (Params("alerts"), AlertsData(firing=firing, now=NOW)),
        (Params("host", "host-1"), HostData(hosts[1], (), firing)),
    ):
        msg = REGISTRY[params.type].build(params, data, view)
        assert validate(msg) == [], params


def test_panels_cut_whole_lines_and_say_how_many_are_left() -> None:
    """fit_lines keeps whole lines; status_list dots; table aligns columns."""
    out = fit_lines([f"line {i}" for i in range(100)], 60)
    assert len(out) <= 60 and out.endswith("more") and "line 0" in out
    assert status_list([(True, "a"), (False, "b"), (None, "c")]) == "🟢 a\n🔴 b\n⚪ c"
    assert table(["host", "cpu"], [["nas", "12 %"]]) == "```\nhost  cpu\nnas   12 %\n```"


def test_the_digest_follows_the_data_not_the_images() -> None:
    """Same data: same digest, whatever the PNG bytes; a value that moves: another digest."""
    kind = REGISTRY["fleet"]
    p = Params("fleet")
    a = kind.build(p, _fleet(1.0), View(1, {GRID_PNG: b"one"}))
    b = kind.build(p, _fleet(1.0), View(1, {GRID_PNG: b"two"}))
    assert digest(a, kind.charts(p, _fleet(1.0))) == digest(b, kind.charts(p, _fleet(1.0)))
    moved = kind.charts(p, _fleet(2.0))
    assert digest(a, moved) != digest(a, kind.charts(p, _fleet(1.0)))
    fewer = Message(embeds=a.embeds[:1], rows=a.rows)
    assert digest(fewer, {}) != digest(a, {})


def _dash(i: int, channel: int = 1, interval: int = 60, type: str = "fleet") -> Dashboard:
    return Dashboard(i, channel, (100 + i,), Params(type, "nas" if type == "host" else ""),
                     interval)  # fmt: skip


def test_the_schedule_spreads_twenty_dashboards_within_the_channel_budget() -> None:
    """20 dashboards of one channel at 60 s: at most 2 a tick, each refreshed once a minute,
    and no tick starves (every one is refreshed within its interval plus a few ticks)."""
    schedule = LiveSchedule(per_channel=2)
    boards = [_dash(i) for i in range(1, 21)]
    refreshed: dict[int, list[float]] = {d.id: [] for d in boards}
    t = 0.0
    while t < 600:
        picked = schedule.due(boards, t)
        assert len(picked) <= 2
        for d in picked:
            schedule.done(d, t)
            refreshed[d.id].append(t)
        t += 5
    for times in refreshed.values():
        assert 9 <= len(times) <= 10
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert max(gaps) <= 60 + 3 * 5
    # The first refreshes were spread over the minute, not all at once.
    firsts = sorted(times[0] for times in refreshed.values())
    assert firsts[-1] - firsts[0] >= 40


def test_urgent_dashboards_go_first_and_only_those_an_alert_touches() -> None:
    """An alert on nas urges the fleet, alerts and nas's host dashboard, not pi's or a project."""
    schedule = LiveSchedule(per_channel=5)
    boards = [_dash(1), _dash(2, type="alerts"), _dash(3, type="host"),
              Dashboard(4, 1, (), Params("host", "pi"), 60), _dash(5, type="project")]  # fmt: skip
    for d in schedule.due(boards, 0.0):
        schedule.done(d, 0.0)
    assert schedule.due(boards, 1.0) == []
    names = {"nas:9100": "nas"}
    urged = schedule.urge(lambda d: shows_instances(d, ["nas:9100"], lambda i: names.get(i, i)))
    assert sorted(urged) == [1, 2, 3]
    assert sorted(d.id for d in schedule.due(boards, 2.0)) == [1, 2, 3]


def test_a_change_before_a_new_dashboards_first_tick_is_not_missed() -> None:
    """A project dashboard made after the last tick, whose project changes before the next,
    is refreshed at that next tick (not an interval later)."""
    schedule = LiveSchedule()
    for d in schedule.due([_dash(1)], 0.0):
        schedule.done(d, 0.0)
    assert schedule.urge(lambda d: d.params.type == "project") == []  # #2 not seen yet
    boards = [_dash(1), _dash(2, interval=600, type="project")]
    assert [d.id for d in schedule.due(boards, 5.0)] == [2]
    schedule.done(boards[1], 5.0)
    assert schedule.due(boards, 10.0) == []  # urged once, not for ever


def test_a_removed_dashboard_leaves_the_schedule() -> None:
    """A dashboard no longer stored is forgotten; a new one is scheduled from its offset."""
    schedule = LiveSchedule()
    schedule.due([_dash(1), _dash(2)], 0.0)
    schedule.due([_dash(2)], 1.0)
    assert schedule.next_at(1) is None and schedule.next_at(2) is not None
