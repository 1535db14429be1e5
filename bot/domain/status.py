"""Fleet and host status: the queries of Node Exporter Full's first row, and their messages.

Example::

    qs = host_queries(Target("nas:9100", "node", "nas"))
    qs["cpu_busy"]   # '100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",...}[1m])))'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.commands import STATUS_REFRESH
from bot.domain.messages import Button, Embed, Field, Message
from bot.domain.text import counted, escape
from exporter import schema

log = logging.getLogger(__name__)

GREEN = 0x2ECC71
RED = 0xE74C3C
GREY = 0x95A5A6


@dataclass(frozen=True, slots=True)
class Target:
    """One scraped host: Prometheus `instance` and `job`, and the name people call it."""

    instance: str
    job: str
    name: str


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One host's vital signs; percentages 0..100, None when the series is missing."""

    target: Target
    up: bool
    cpu_busy: float | None = None
    mem_used: float | None = None
    rootfs_used: float | None = None
    load1: float | None = None
    load_percent: float | None = None
    cores: int | None = None
    uptime_seconds: float | None = None


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


TARGETS_QUERY = "up"
# Names from the last day, not only the live series: a down host's node_uname_info goes stale
# (at once, by staleness marker), and the host must stay listed, as DOWN, under its name.
NAMES_LOOKBACK = "1d"
NAMES_QUERY = (
    f"group by (instance, job, nodename) (last_over_time({schema.UNAME_INFO}[{NAMES_LOOKBACK}]))"
)


def host_queries(t: Target, rate_interval: str = "1m") -> dict[str, str]:
    """The first-row queries of Node Exporter Full, with instance, job and interval filled."""
    node, job = promql_string(t.instance), promql_string(t.job)
    sel = f"instance={node},job={job}"
    sel_sp = f"instance={node}, job={job}"
    cpu = schema.CPU_SECONDS
    cores = f"count(count({cpu}{{{sel}}}) by (cpu))"
    return {
        "up": f"up{{{sel}}}",
        "cpu_busy": f'100 * (1 - avg(rate({cpu}{{mode="idle",{sel}}}[{rate_interval}])))',
        "load_percent": f"scalar({schema.LOAD1}{{{sel}}}) * 100 / {cores}",
        "load1": f"{schema.LOAD1}{{{sel}}}",
        "mem_used": (
            f"clamp_min((1 - ({schema.MEM_AVAILABLE}{{{sel_sp}}} / "
            f"{schema.MEM_TOTAL}{{{sel_sp}}})) * 100, 0)"
        ),
        "rootfs_used": (
            "(\n"
            f'  ({schema.FS_SIZE}{{{sel_sp}, mountpoint="/", fstype!="rootfs"}}\n'
            f'   - {schema.FS_AVAIL}{{{sel_sp}, mountpoint="/", fstype!="rootfs"}})\n'
            f'  / {schema.FS_SIZE}{{{sel_sp}, mountpoint="/", fstype!="rootfs"}}\n'
            ") * 100\n"
        ),
        "cores": cores,
        "uptime": f"{schema.TIME}{{{sel}}} - {schema.BOOT_TIME}{{{sel}}}",
    }


def targets_from(
    up: list[tuple[dict[str, str], float]],
    names: list[tuple[dict[str, str], float]],
    host_jobs: Iterable[str] = (),
) -> list[tuple[Target, bool]]:
    """Hosts (and whether each is up) from the `up` series and the recent node_uname_info.

    Host jobs are `host_jobs` plus every job that exported node_uname_info within the names
    query's lookback, so a host (or a whole job) that went down stays listed as down. A host's
    name is its last nodename, or the host part of its instance when it never reported one.
    """
    nodename: dict[tuple[str, str], str] = {}
    for ls, _ in sorted(names, key=lambda p: p[0].get("nodename", "")):
        nodename[(ls.get("instance", ""), ls.get("job", ""))] = ls.get("nodename", "")
    jobs = {job for _, job in nodename} | set(host_jobs)
    out: list[tuple[Target, bool]] = []
    for labels, value in up:
        instance, job = labels.get("instance", ""), labels.get("job", "")
        if job not in jobs:
            continue
        name = nodename.get((instance, job)) or instance.rsplit(":", 1)[0]
        out.append((Target(instance, job, name), value == 1.0))
    return sorted(out, key=lambda t: (t[0].name, t[0].instance))


def find_target(targets: list[Target], host: str) -> Target | None:
    """The target a user means by `host`: a nodename, an instance, or an instance's host part."""
    for t in targets:
        if host in (t.name, t.instance, t.instance.rsplit(":", 1)[0]):
            return t
    return None


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} %"


def duration(seconds: float | None) -> str:
    """Seconds as '3 d 4 h', '5 h 2 m' or '42 m'."""
    if seconds is None:
        return "n/a"
    s = int(seconds)
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {m} m"
    return f"{m} m"


def _load(h: HostStatus) -> str:
    if h.load1 is None:
        return "n/a"
    if h.load_percent is None or h.cores is None:
        return f"{h.load1:.2f}"
    return f"{h.load1:.2f} ({h.load_percent:.0f} % of {h.cores} cores)"


def host_message(h: HostStatus) -> Message:
    """One host's status as a message with a refresh button."""
    name = escape(h.target.name)
    if not h.up:
        embed = Embed(
            title=f"{name}: DOWN",
            description=f"Prometheus cannot scrape {escape(h.target.instance)} "
            f"(job {escape(h.target.job)}).",
            colour=RED,
        )
    else:
        embed = Embed(
            title=f"{name}: up",
            colour=GREEN,
            fields=(
                Field("CPU busy", _pct(h.cpu_busy), True),
                Field("Memory used", _pct(h.mem_used), True),
                Field("Root FS used", _pct(h.rootfs_used), True),
                Field("Load", _load(h), True),
                Field("Uptime", duration(h.uptime_seconds), True),
                Field("Instance", escape(h.target.instance), True),
            ),
        )
    return Message(
        embeds=(embed,),
        rows=((_refresh(h.target.name),),),
    )


def fleet_message(hosts: list[HostStatus]) -> Message:
    """The fleet summary: one line per host, red when any host is down."""
    if not hosts:
        return Message(
            embeds=(
                Embed(
                    title="Fleet: no hosts",
                    description="Prometheus scrapes no job that exported node_uname_info in "
                    f"the last {NAMES_LOOKBACK}, and [bot.prometheus] host_jobs names none it "
                    "scrapes. Add node_exporter or homelab-exporter targets to its scrape "
                    "configs (or name their job in host_jobs).",
                    colour=GREY,
                ),
            )
        )
    down = [h for h in hosts if not h.up]
    lines = []
    for h in hosts:
        name = escape(h.target.name)
        if h.up:
            lines.append(
                f"🟢 **{name}**: CPU {_pct(h.cpu_busy)} · mem {_pct(h.mem_used)} · "
                f"/ {_pct(h.rootfs_used)} · load {_load(h)} · up {duration(h.uptime_seconds)}"
            )
        else:
            lines.append(f"🔴 **{name}**: DOWN ({escape(h.target.instance)})")
    if len(down) == len(hosts):
        title = f"Fleet: {'all ' if len(hosts) > 1 else ''}{counted(len(hosts), 'host')} DOWN"
    elif down:
        title = f"Fleet: {counted(len(hosts), 'host')}, {len(down)} down"
    else:
        title = f"Fleet: {counted(len(hosts), 'host')} up"
    return Message(
        embeds=(Embed(title=title, description="\n".join(lines), colour=RED if down else GREEN),),
        rows=((_refresh(""),),),
    )


def _refresh(host: str) -> Button:
    return Button(STATUS_REFRESH.custom_id(host), "Refresh", STATUS_REFRESH.permission)


def unavailable_message(source: str, reason: str, host: str = "") -> Message:
    """What the user reads when Prometheus is down, slow or refuses the query (with a retry)."""
    return Message(
        embeds=(
            Embed(
                title="Status unavailable",
                description=f"Could not query Prometheus at {escape(source)}: {escape(reason)}.\n"
                "Check that Prometheus is running and that `[bot.prometheus] url` points at it, "
                "then try again.",
                colour=GREY,
            ),
        ),
        rows=((_refresh(host),),),
        outcome="unavailable",
    )


def unknown_host_message(host: str, known: list[Target]) -> Message:
    """What the user reads when no scraped host has that name."""
    names = ", ".join(escape(t.name) for t in known[:25]) or "none"
    return Message(
        text=f"No host called **{escape(host)}** is scraped by Prometheus. Known hosts: {names}.",
        ephemeral=True,
        outcome="not_found",
    )
