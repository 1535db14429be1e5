"""Fleet and host status: the queries of Node Exporter Full's first row, and their messages.

Example::

    qs = host_queries(Target("nas:9100", "node", "nas"))
    qs["cpu_busy"]   # '100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",...}[1m])))'
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.domain.commands import STATUS_REFRESH
from bot.domain.messages import CONTINUATION, Button, Embed, Field, Limits, Message
from bot.domain.text import counted, escape
from exporter import schema

log = logging.getLogger(__name__)

GREEN = 0x2ECC71
RED = 0xE74C3C
GREY = 0x95A5A6


@dataclass(frozen=True, slots=True)
class Target:
    """One scraped host: Prometheus `instance` and `job`, and the name people call it.

    `name` is the first of: a [bot.hosts] alias for the instance, the `host` label (the
    exporter's `hostname` setting, or a target label in the scrape config), the kernel's
    `nodename`, the host part of the instance. `host`, `nodename` and `aliases` are the other
    names a user may type for it.
    """

    instance: str
    job: str
    name: str
    nodename: str = ""
    host: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """The instance without its port."""
        return _address(self.instance)


def _address(instance: str) -> str:
    return instance.rsplit(":", 1)[0] if ":" in instance else instance


@dataclass(frozen=True, slots=True)
class Mount:
    """One real file system: where it is mounted, its type, percent used and size."""

    mountpoint: str
    fstype: str
    used_percent: float | None
    size_bytes: float | None = None


@dataclass(frozen=True, slots=True)
class Temperature:
    """One hardware sensor: chip (its name when the driver gives one), sensor, degrees C."""

    chip: str
    sensor: str
    celsius: float


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One host's vital signs; percentages 0..100, None when the series is missing.

    The detail (mounts, temperatures, network, alert names) is filled for the host view only;
    `alerts_firing` is filled for both views.
    """

    target: Target
    up: bool
    cpu_busy: float | None = None
    mem_used: float | None = None
    rootfs_used: float | None = None
    load1: float | None = None
    load_percent: float | None = None
    cores: int | None = None
    uptime_seconds: float | None = None
    alerts_firing: int = 0
    alert_names: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    temperatures: tuple[Temperature, ...] = ()
    net_receive_bps: float | None = None
    net_transmit_bps: float | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a host name typed by a user means: one target, several (ambiguous) or none."""

    target: Target | None = None
    candidates: tuple[Target, ...] = ()


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


TARGETS_QUERY = "up"
# Names from the last day, not only the live series: a down host's node_uname_info goes stale
# (at once, by staleness marker), and the host must stay listed, as DOWN, under its name.
NAMES_LOOKBACK = "1d"
HOST = schema.HOST_LABEL
NAMES_QUERY = (
    f"group by (instance, job, nodename, {HOST}) "
    f"(last_over_time({schema.UNAME_INFO}[{NAMES_LOOKBACK}]))"
)
# Real file systems, as the rules and grafana/generate.py's FS select them (node_exporter and
# our exporter already leave out /proc, /sys, container storage...; RAM-backed and image file
# systems are left out here), and without the initramfs `rootfs` as Node Exporter Full does.
REAL_FS = 'fstype!~"tmpfs|ramfs|devtmpfs|squashfs|iso9660|overlay", device!~"rootfs"'
# Firing alerts, without the always-firing Watchdog (it is for the dead man's switch).
FIRING = 'ALERTS{alertstate="firing", alertname!="Watchdog"}'
FIRING_TOTAL_QUERY = f"count({FIRING})"
# Matched on instance alone: rules that aggregate `by (instance)` drop the job label.
FIRING_BY_INSTANCE_QUERY = f"count by (instance) ({FIRING})"
MAX_MOUNTS = 20
MAX_TEMPERATURES = 10


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


def detail_queries(t: Target, rate_interval: str = "1m") -> dict[str, str]:
    """The host view's further queries: every real mount, temperatures, network, alerts.

    `net_*` are one value each (every device but lo, as the recording rules count them); the
    others give one series per mount, sensor or alert name.
    """
    node, job = promql_string(t.instance), promql_string(t.job)
    sel = f"instance={node}, job={job}"
    fs = f"{sel}, {REAL_FS}"
    temp = f"{schema.HWMON_TEMP}{{{sel}}}"
    net = f'{sel}, device!="lo"'
    return {
        "mounts_used": (
            f"({schema.FS_SIZE}{{{fs}}} - {schema.FS_AVAIL}{{{fs}}}) / {schema.FS_SIZE}{{{fs}}}"
            " * 100"
        ),
        "mounts_size": f"{schema.FS_SIZE}{{{fs}}}",
        # Node Exporter Full's join for the chip's name; chips without one keep their id.
        "temperatures": (
            f"({temp} * on (chip) group_left (chip_name) {schema.HWMON_CHIP_NAMES}{{{sel}}})"
            f" or on (chip, sensor) {temp}"
        ),
        "net_receive": f"sum(rate({schema.NETWORK_RECEIVE_BYTES}{{{net}}}[{rate_interval}]))",
        "net_transmit": f"sum(rate({schema.NETWORK_TRANSMIT_BYTES}{{{net}}}[{rate_interval}]))",
        "alerts": (
            f'count by (alertname) (ALERTS{{alertstate="firing", alertname!="Watchdog", '
            f"instance={node}}})"
        ),
    }


def mounts_from(
    used: list[tuple[dict[str, str], float]], size: list[tuple[dict[str, str], float]]
) -> tuple[Mount, ...]:
    """Mounts from the used-percent and size series, by mount point (one per mount point)."""
    sizes = {ls.get("mountpoint", ""): v for ls, v in size}
    out: dict[str, Mount] = {}
    for ls, value in used:
        mp = ls.get("mountpoint", "")
        pct = None if math.isnan(value) else value
        out.setdefault(mp, Mount(mp, ls.get("fstype", ""), pct, sizes.get(mp)))
    return tuple(out[mp] for mp in sorted(out))


def temperatures_from(series: list[tuple[dict[str, str], float]]) -> tuple[Temperature, ...]:
    """Sensors, hottest first."""
    temps = [
        Temperature(ls.get("chip_name") or ls.get("chip", ""), ls.get("sensor", ""), v)
        for ls, v in series
        if not math.isnan(v)
    ]
    return tuple(sorted(temps, key=lambda t: (-t.celsius, t.chip, t.sensor)))


def targets_from(
    up: list[tuple[dict[str, str], float]],
    names: list[tuple[dict[str, str], float]],
    host_jobs: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> list[tuple[Target, bool]]:
    """Hosts (and whether each is up) from the `up` series and the recent node_uname_info.

    Host jobs are `host_jobs` plus every job that exported node_uname_info within the names
    query's lookback, so a host (or a whole job) that went down stays listed as down.
    `aliases` maps a name to an instance; see `Target` for how a host is named.
    """
    uname: dict[tuple[str, str], tuple[str, str]] = {}
    for ls, _ in sorted(names, key=lambda p: (p[0].get("nodename", ""), p[0].get(HOST, ""))):
        uname[(ls.get("instance", ""), ls.get("job", ""))] = (
            ls.get("nodename", ""),
            ls.get(HOST, ""),
        )
    by_instance: dict[str, list[str]] = {}
    for alias, instance in sorted((aliases or {}).items()):
        by_instance.setdefault(instance, []).append(alias)
    jobs = {job for _, job in uname} | set(host_jobs)
    out: list[tuple[Target, bool]] = []
    for labels, value in up:
        instance, job = labels.get("instance", ""), labels.get("job", "")
        if job not in jobs:
            continue
        nodename, host = uname.get((instance, job), ("", ""))
        host = labels.get(HOST) or host  # a target label on `up` wins, as on node_uname_info
        names_of = tuple(by_instance.get(instance, ()))
        name = (names_of[0] if names_of else "") or host or nodename or _address(instance)
        out.append((Target(instance, job, name, nodename, host, names_of), value == 1.0))
    return sorted(out, key=lambda t: (t[0].name, t[0].instance, t[0].job))


def resolve(targets: list[Target], query: str) -> Resolution:
    """The target a user means by `query`, case-insensitively: an instance, an alias, a name,
    a configured host name or nodename, or an instance's address, tried in that order.

    The first kind of name that matches decides; when it matches several targets the name is
    ambiguous, and they are the candidates.
    """
    q = query.strip().casefold()
    kinds: tuple[Callable[[Target], bool], ...] = (
        lambda t: t.instance.casefold() == q,
        lambda t: q in (a.casefold() for a in t.aliases),
        lambda t: t.name.casefold() == q,
        lambda t: q in (t.host.casefold(), t.nodename.casefold()),
        lambda t: t.address.casefold() == q,
    )
    for matches in kinds:
        found = tuple(t for t in targets if matches(t))
        if len(found) == 1:
            return Resolution(found[0])
        if found:
            return Resolution(None, found)
    return Resolution()


def find_target(targets: list[Target], host: str) -> Target | None:
    """The one target `host` names, None when it names none or several (see `resolve`)."""
    return resolve(targets, host).target


def duplicate_names(targets: Iterable[Target]) -> set[str]:
    """Names (casefolded) that more than one target carries."""
    seen: set[str] = set()
    dup: set[str] = set()
    for t in targets:
        key = t.name.casefold()
        (dup if key in seen else seen).add(key)
    return dup


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


def size(n: float | None) -> str:
    """Bytes in SI units: '512 B', '1.5 kB', '20.0 GB'."""
    if n is None or math.isnan(n):
        return "n/a"
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _rate(n: float | None) -> str:
    return "n/a" if n is None else f"{size(n)}/s"


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_middle(text: str, limit: int = 60) -> str:
    """A path shortened in its middle: its start and its last, telling, part stay."""
    if len(text) <= limit:
        return text
    head = limit // 3
    return text[:head] + "…" + text[len(text) - (limit - head - 1) :]


def _label(t: Target, duplicates: set[str]) -> str:
    """The host's name in bold, with its instance when another host has the same name."""
    name = f"**{escape(t.name)}**"
    if t.name.casefold() in duplicates:
        return f"{name} ({escape(t.instance)})"
    return name


def _more(lines: list[str], total: int, shown: int) -> list[str]:
    if total > shown:
        lines.append(f"… and {total - shown} more")
    return lines


def _fields(name: str, lines: list[str]) -> list[Field]:
    """Lines as one field, continued in unnamed fields where a value would pass 1024 chars."""
    values: list[str] = []
    for line in lines:
        if values and len(values[-1]) + 1 + len(line) <= Limits.FIELD_VALUE:
            values[-1] += "\n" + line
        else:
            values.append(line[: Limits.FIELD_VALUE])
    return [Field(name if i == 0 else CONTINUATION, v) for i, v in enumerate(values)]


def _mounts(h: HostStatus) -> list[str]:
    if not h.mounts:
        return ["n/a"]
    lines = [
        f"{escape(_cut_middle(m.mountpoint))} {_pct(m.used_percent)} of {size(m.size_bytes)}"
        for m in h.mounts[:MAX_MOUNTS]
    ]
    return _more(lines, len(h.mounts), MAX_MOUNTS)


def _temperatures(h: HostStatus) -> list[str]:
    lines = [
        f"{escape(_cut(t.chip, 40))} {escape(_cut(t.sensor, 30))}: {t.celsius:.0f} °C"
        for t in h.temperatures[:MAX_TEMPERATURES]
    ]
    return _more(lines, len(h.temperatures), MAX_TEMPERATURES)


def _alerts(h: HostStatus) -> str:
    if not h.alerts_firing:
        return "none"
    names = ", ".join(escape(_cut(n, 40)) for n in h.alert_names[:10])
    return f"{h.alerts_firing}: {names}" if names else str(h.alerts_firing)


def host_message(h: HostStatus) -> Message:
    """One host's status as a message with a refresh button.

    Mounts, temperatures (when the host has sensors), network throughput and the alerts
    firing for it follow the vital signs.
    """
    name = escape(h.target.name)
    if not h.up:
        alerts = f"\nAlerts firing: {_alerts(h)}." if h.alerts_firing else ""
        embed = Embed(
            title=f"{name}: DOWN",
            description=f"Prometheus cannot scrape {escape(h.target.instance)} "
            f"(job {escape(h.target.job)}).{alerts}",
            colour=RED,
        )
    else:
        fields = [
            Field("CPU busy", _pct(h.cpu_busy), True),
            Field("Memory used", _pct(h.mem_used), True),
            Field("Root FS used", _pct(h.rootfs_used), True),
            Field("Load", _load(h), True),
            Field("Uptime", duration(h.uptime_seconds), True),
            Field("Instance", escape(h.target.instance), True),
            Field(
                "Network", f"in {_rate(h.net_receive_bps)} · out {_rate(h.net_transmit_bps)}", True
            ),
            Field("Alerts firing", _alerts(h), True),
        ]
        if h.target.nodename and h.target.nodename != h.target.name:
            fields.append(Field("Node name", escape(_cut(h.target.nodename)), True))
        fields.extend(_fields("File systems", _mounts(h)))
        if h.temperatures:
            fields.extend(_fields("Temperatures", _temperatures(h)))
        embed = Embed(
            title=f"{name}: up", colour=RED if h.alerts_firing else GREEN, fields=tuple(fields)
        )
    return Message(
        embeds=(embed,),
        rows=((_refresh(h.target.instance),),),
    )


def fleet_message(hosts: list[HostStatus], alerts_firing: int = 0) -> Message:
    """The fleet summary: one line per host, red when any host is down or an alert fires.

    `alerts_firing` counts every firing alert, host or not; each line counts its host's.
    """
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
    duplicates = duplicate_names(h.target for h in hosts)
    lines = []
    for h in hosts:
        label = _label(h.target, duplicates)
        bell = f" · 🔔 {h.alerts_firing}" if h.alerts_firing else ""
        if h.up:
            lines.append(
                f"🟢 {label}: CPU {_pct(h.cpu_busy)} · mem {_pct(h.mem_used)} · "
                f"/ {_pct(h.rootfs_used)} · load {_load(h)} · up {duration(h.uptime_seconds)}"
                f"{bell}"
            )
        elif h.target.name.casefold() in duplicates:
            lines.append(f"🔴 {label}: DOWN{bell}")
        else:
            lines.append(f"🔴 {label}: DOWN ({escape(h.target.instance)}){bell}")
    if len(down) == len(hosts):
        title = f"Fleet: {'all ' if len(hosts) > 1 else ''}{counted(len(hosts), 'host')} DOWN"
    elif down:
        title = f"Fleet: {counted(len(hosts), 'host')}, {len(down)} down"
    else:
        title = f"Fleet: {counted(len(hosts), 'host')} up"
    if alerts_firing:
        title += f" · {counted(alerts_firing, 'alert')} firing"
    colour = RED if down or alerts_firing else GREEN
    return Message(
        embeds=(Embed(title=title, description="\n".join(lines), colour=colour),),
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


def unknown_host_message(
    host: str, known: list[Target], aliases: Mapping[str, str] | None = None
) -> Message:
    """What the user reads when no scraped host has that name."""
    names = ", ".join(escape(t.name) for t in known[:25]) or "none"
    more = f" and {len(known) - 25} more" if len(known) > 25 else ""
    text = (
        f"No host called **{escape(host)}** is scraped by Prometheus. "
        f"Known hosts: {names}{more}."
    )
    target = next((v for k, v in (aliases or {}).items() if k.casefold() == host.casefold()), None)
    if target is not None:
        text += (
            f" [bot.hosts] aliases maps it to {escape(target)}, which no host job scrapes: "
            "check the instance (host:port, as Prometheus shows it)."
        )
    return Message(text=text, ephemeral=True, outcome="not_found")


def ambiguous_host_message(host: str, candidates: tuple[Target, ...]) -> Message:
    """What the user reads when a name fits several hosts: each candidate, to pick one."""
    lines = [
        f"- {escape(t.name)}: {escape(t.instance)} (job {escape(t.job)})" for t in candidates[:20]
    ]
    if len(candidates) > 20:
        lines.append(f"- … and {len(candidates) - 20} more")
    example = escape(candidates[0].instance)
    text = (
        f"**{escape(host)}** could be any of {len(candidates)} hosts:\n"
        + "\n".join(lines)
        + f"\nAsk for one by its instance (e.g. status {example}), or name them apart: set "
        "`hostname` in each exporter's [exporter] settings, or an alias in [bot.hosts] aliases."
    )
    return Message(text=text, ephemeral=True, outcome="not_found")
