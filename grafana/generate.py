"""Generate the Grafana dashboards of grafana/dashboards/ (one factory for all four).

Run `python grafana/generate.py` after editing; tests/grafana checks that the JSON files are
what this script writes, that every datasource they name is provisioned, and that every query,
with its template variables filled in, runs on a real Prometheus (or InfluxDB).

Datasources are referred to by the fixed uids of grafana/provisioning/datasources/homelab.yml.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OUT = Path(__file__).resolve().parent / "dashboards"
PROM = {"type": "prometheus", "uid": "prometheus"}
INFLUX = {"type": "influxdb", "uid": "influxdb"}
SCHEMA_VERSION = 39
FS = 'fstype!~"tmpfs|ramfs|devtmpfs|squashfs|iso9660|overlay"'
# Firing alerts, without the always-firing Watchdog (it is for the dead man's switch).
FIRING = 'ALERTS{alertstate="firing", alertname!="Watchdog"}'


def target(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> dict[str, Any]:
    """A PromQL query of a panel."""
    t: dict[str, Any] = {"datasource": PROM, "refId": ref, "expr": expr, "editorMode": "code"}
    if legend:
        t["legendFormat"] = legend
    if instant:
        t.update(instant=True, range=False, format="table")
    else:
        t.update(range=True)
    return t


def influx_target(query: str, alias: str = "", ref: str = "A") -> dict[str, Any]:
    """A raw InfluxQL query of a panel (Telegraf schema, as the exporter writes it)."""
    return {
        "datasource": INFLUX,
        "refId": ref,
        "query": query,
        "rawQuery": True,
        "resultFormat": "time_series",
        "alias": alias,
    }


def panel(
    kind: str,
    title: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    lo: float | None = None,
    hi: float | None = None,
    steps: list[tuple[str, float | None]] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """A panel; `layout` gives it an id and a place."""
    defaults: dict[str, Any] = {"unit": unit}
    if lo is not None:
        defaults["min"] = lo
    if hi is not None:
        defaults["max"] = hi
    if steps:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": c, "value": v} for c, v in steps],
        }
        defaults["color"] = {"mode": "thresholds"}
    p: dict[str, Any] = {
        "type": kind,
        "title": title,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": {"w": w, "h": h},
    }
    if description:
        p["description"] = description
    if kind == "timeseries":
        p["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif kind in {"stat", "gauge", "bargauge"}:
        p["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area" if kind == "stat" else "none",
        }
    elif kind == "table":
        p["options"] = {"showHeader": True, "cellHeight": "sm"}
        p["transformations"] = [{"id": "merge", "options": {}}]
    return p


def row(title: str, repeat: str = "") -> dict[str, Any]:
    """A row header; with `repeat`, one row per value of that variable."""
    r: dict[str, Any] = {"type": "row", "title": title, "collapsed": False, "panels": []}
    if repeat:
        r["repeat"] = repeat
    r["gridPos"] = {"w": 24, "h": 1}
    return r


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Number the panels and flow them left to right, top to bottom, on the 24-column grid."""
    x = y = line_h = 0
    for pid, p in enumerate(panels, start=1):
        p["id"] = pid
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if p["type"] == "row" or x + w > 24:
            x, y = 0, y + line_h
            line_h = 0
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x += w
        line_h = max(line_h, h)
        if p["type"] == "row":
            x, y, line_h = 0, y + 1, 0
    return panels


def query_var(
    name: str, query: str, label: str, *, multi: bool = False, hide: int = 0
) -> dict[str, Any]:
    """A template variable filled from a label_values() query."""
    v: dict[str, Any] = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROM,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "refresh": 2,
        "sort": 1,
        "hide": hide,
        "multi": multi,
        "includeAll": multi,
        "current": {},
    }
    if multi:
        v["allValue"] = ".+"
    return v


def dashboard(
    uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]],
    tags: list[str], description: str, refresh: str = "30s",
) -> dict[str, Any]:
    """A whole dashboard."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["homelab", *tags],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "timezone": "browser",
        "refresh": refresh,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {"type": "dashboards", "tags": ["homelab"], "asDropdown": True, "title": "HomeLab"}
        ],
        "panels": layout(panels),
    }


PCT = [("green", None), ("orange", 0.8), ("red", 0.9)]


def fleet_overview() -> dict[str, Any]:
    """One row per host with its headline numbers, and the fleet at the top."""
    sel = 'instance=~"$instance", job=~"$job"'
    panels = [
        row("Fleet"),
        panel("stat", "Hosts up", [target('sum(up{job=~"$job"})')], w=4, h=4,
              steps=[("red", None), ("green", 1)]),
        panel("stat", "Hosts down", [target('count(up{job=~"$job"} == 0) or vector(0)')],
              w=4, h=4, steps=[("green", None), ("red", 1)]),
        panel("stat", "Alerts firing", [target(f"count({FIRING}) or vector(0)")],
              w=4, h=4, steps=[("green", None), ("orange", 1)]),
        panel("bargauge", "CPU busy by host",
              [target(f"instance:node_cpu_busy:ratio{{{sel}}}", "{{instance}}")],
              unit="percentunit", lo=0, hi=1, w=6, h=4, steps=PCT),
        panel("bargauge", "Memory used by host",
              [target(f"instance:node_memory_used:ratio{{{sel}}}", "{{instance}}")],
              unit="percentunit", lo=0, hi=1, w=6, h=4, steps=PCT),
        row("$instance", repeat="instance"),
        panel("stat", "Up", [target(f"up{{{sel}}}")], w=2, h=4,
              steps=[("red", None), ("green", 1)]),
        panel("gauge", "CPU busy", [target(f"instance:node_cpu_busy:ratio{{{sel}}}")],
              unit="percentunit", lo=0, hi=1, w=3, h=4, steps=PCT),
        panel("gauge", "Memory used", [target(f"instance:node_memory_used:ratio{{{sel}}}")],
              unit="percentunit", lo=0, hi=1, w=3, h=4, steps=PCT),
        panel("gauge", "Root FS used",
              [target(f"instance:node_filesystem_root_used:ratio{{{sel}}}")],
              unit="percentunit", lo=0, hi=1, w=3, h=4, steps=PCT),
        panel("stat", "Load per CPU (5m)",
              [target(f"instance:node_load5_per_cpu:ratio{{{sel}}}")],
              unit="short", w=3, h=4, steps=[("green", None), ("orange", 1), ("red", 2)]),
        panel("stat", "Uptime", [target(f"instance:node_uptime:seconds{{{sel}}}")],
              unit="s", w=3, h=4),
        panel("timeseries", "Network",
              [target(f"instance:node_network_receive_bytes_excluding_lo:rate5m{{{sel}}}",
                      "in", ref="A"),
               target(f"instance:node_network_transmit_bytes_excluding_lo:rate5m{{{sel}}}",
                      "out", ref="B")],
              unit="Bps", w=7, h=4),
    ]
    variables = [
        query_var("job", "label_values(node_uname_info, job)", "Job", multi=True),
        query_var("instance", 'label_values(node_uname_info{job=~"$job"}, instance)', "Host",
                  multi=True),
    ]
    return dashboard("homelab-fleet", "HomeLab / Fleet overview", panels, variables, ["fleet"],
                     "Every host at a glance: a row per host (repeated over $instance).")


def host_detail() -> dict[str, Any]:
    """One host in depth, templated on node_uname_info like Node Exporter Full."""
    s = 'instance="$node", job="$job"'
    panels = [
        row("Overview"),
        panel("gauge", "CPU busy", [target(f"instance:node_cpu_busy:ratio{{{s}}}")],
              unit="percentunit", lo=0, hi=1, w=4, h=4, steps=PCT),
        panel("gauge", "Memory used", [target(f"instance:node_memory_used:ratio{{{s}}}")],
              unit="percentunit", lo=0, hi=1, w=4, h=4, steps=PCT),
        panel("gauge", "Root FS used",
              [target(f"instance:node_filesystem_root_used:ratio{{{s}}}")],
              unit="percentunit", lo=0, hi=1, w=4, h=4, steps=PCT),
        panel("stat", "CPUs", [target(f"instance:node_num_cpu:count{{{s}}}")], w=3, h=4),
        panel("stat", "RAM", [target(f"node_memory_MemTotal_bytes{{{s}}}")], unit="bytes",
              w=3, h=4),
        panel("stat", "Uptime", [target(f"instance:node_uptime:seconds{{{s}}}")], unit="s",
              w=3, h=4),
        panel("stat", "Clock offset", [target(f"instance:node_time_offset:seconds{{{s}}}")],
              unit="s", w=3, h=4),
        row("CPU and memory"),
        panel("timeseries", "CPU by mode",
              [target(f'sum by (mode) (rate(node_cpu_seconds_total{{{s}, mode!="idle"}}'
                      f"[$__rate_interval])) / scalar(instance:node_num_cpu:count{{{s}}})",
                      "{{mode}}")],
              unit="percentunit", lo=0, hi=1),
        panel("timeseries", "Load",
              [target(f"node_load1{{{s}}}", "1m", ref="A"),
               target(f"node_load5{{{s}}}", "5m", ref="B"),
               target(f"node_load15{{{s}}}", "15m", ref="C"),
               target(f"instance:node_num_cpu:count{{{s}}}", "CPUs", ref="D")]),
        panel("timeseries", "Memory",
              [target(f"node_memory_MemTotal_bytes{{{s}}} - node_memory_MemAvailable_bytes{{{s}}}",
                      "used", ref="A"),
               target(f"node_memory_MemAvailable_bytes{{{s}}}", "available", ref="B"),
               target(f"node_memory_SwapTotal_bytes{{{s}}} - node_memory_SwapFree_bytes{{{s}}}",
                      "swap used", ref="C")],
              unit="bytes", lo=0),
        panel("timeseries", "Temperatures",
              [target(f"node_hwmon_temp_celsius{{{s}}}", "{{chip}} {{sensor}}")],
              unit="celsius"),
        row("Disks"),
        panel("bargauge", "File systems used",
              [target(f"instance_mountpoint:node_filesystem_used:ratio{{{s}}}", "{{mountpoint}}")],
              unit="percentunit", lo=0, hi=1, steps=PCT),
        panel("bargauge", "Inodes used",
              [target(f"instance_mountpoint:node_filesystem_files_used:ratio{{{s}}}",
                      "{{mountpoint}}")],
              unit="percentunit", lo=0, hi=1, steps=PCT),
        panel("timeseries", "Disk throughput",
              [target(f"rate(node_disk_read_bytes_total{{{s}}}[$__rate_interval])",
                      "{{device}} read", ref="A"),
               target(f"rate(node_disk_written_bytes_total{{{s}}}[$__rate_interval])",
                      "{{device}} write", ref="B")],
              unit="Bps"),
        panel("timeseries", "Disk busy",
              [target(f"rate(node_disk_io_time_seconds_total{{{s}}}[$__rate_interval])",
                      "{{device}}")],
              unit="percentunit", lo=0, hi=1),
        panel("timeseries", "Free space forecast (24 h ahead)",
              [target(f"predict_linear(node_filesystem_avail_bytes{{{s}, {FS}}}[6h], 86400)",
                      "{{mountpoint}}")],
              unit="bytes"),
        panel("table", "Read-only file systems",
              [target(f"node_filesystem_readonly{{{s}, {FS}}} == 1", instant=True)]),
        row("Network"),
        panel("timeseries", "Traffic",
              [target(f'rate(node_network_receive_bytes_total{{{s}, device!="lo"}}'
                      "[$__rate_interval])", "{{device}} in", ref="A"),
               target(f'rate(node_network_transmit_bytes_total{{{s}, device!="lo"}}'
                      "[$__rate_interval])", "{{device}} out", ref="B")],
              unit="Bps"),
        panel("timeseries", "Errors",
              [target(f"instance_device:node_network_errs:rate5m{{{s}}}", "{{device}}")],
              unit="short"),
        row("History (InfluxDB)"),
        panel("timeseries", "CPU usage, long term",
              [influx_target(
                  "SELECT 100 - mean(\"usage_idle\") FROM \"cpu\" WHERE \"host\" = '$host' "
                  "AND \"cpu\" = 'cpu-total' AND $timeFilter GROUP BY time($__interval) fill(null)",
                  "cpu busy %")],
              unit="percent", lo=0, hi=100,
              description="From InfluxDB, where the exporter keeps history longer than "
                          "Prometheus does."),
        panel("timeseries", "Memory used, long term",
              [influx_target(
                  "SELECT mean(\"used_percent\") FROM \"mem\" WHERE \"host\" = '$host' "
                  "AND $timeFilter GROUP BY time($__interval) fill(null)",
                  "memory used %")],
              unit="percent", lo=0, hi=100),
    ]
    variables = [
        query_var("job", "label_values(node_uname_info, job)", "Job"),
        query_var("nodename", 'label_values(node_uname_info{job="$job"}, nodename)', "Host"),
        query_var("node", 'label_values(node_uname_info{job="$job", nodename="$nodename"}, '
                  "instance)", "Instance"),
        # The instance's configured name (the exporter's `hostname`), which is InfluxDB's `host`
        # tag: two machines can share a nodename, never a host name.
        query_var("host", 'label_values(node_uname_info{job="$job", instance="$node"}, host)',
                  "Host name", hide=2),
    ]
    return dashboard("homelab-host", "HomeLab / Host detail", panels, variables, ["host"],
                     "One host in depth; variables from node_uname_info like Node Exporter Full.")


def alerts_and_notifications() -> dict[str, Any]:
    """What fires, what is muted, and whether notifications get out."""
    panels = [
        row("Alerts"),
        panel("stat", "Firing", [target(f"count({FIRING}) or vector(0)")],
              w=4, h=4, steps=[("green", None), ("orange", 1)]),
        panel("stat", "Pending", [target('count(ALERTS{alertstate="pending"}) or vector(0)')],
              w=4, h=4),
        panel("stat", "Suppressed in Alertmanager",
              [target('sum(alertmanager_alerts{state="suppressed"})')], w=4, h=4),
        panel("stat", "Active silences",
              [target('sum(alertmanager_silences{state="active"})')], w=4, h=4),
        panel("stat", "Thresholds set from Discord",
              [target('count(homelab_alert_threshold{job="homelab-bot"}) or vector(0)')], w=4, h=4),
        panel("stat", "Rule evaluation failures (1h)",
              [target("sum(increase(prometheus_rule_evaluation_failures_total[1h]))")],
              w=4, h=4, steps=[("green", None), ("red", 1)]),
        panel("table", "Firing alerts",
              [target(FIRING, instant=True)], w=24, h=8),
        panel("timeseries", "Firing alerts by severity",
              [target(f"count by (severity) ({FIRING})", "{{severity}}")],
              w=12),
        panel("table", "Thresholds in effect (from the bot)",
              [target('homelab_alert_threshold{job="homelab-bot"}', instant=True)], w=12),
        row("Notifications"),
        panel("timeseries", "Notifications sent by integration",
              [target("sum by (integration) (rate(alertmanager_notifications_total"
                      "[$__rate_interval]))", "{{integration}}", ref="A"),
               target("sum by (integration) (rate(alertmanager_notifications_failed_total"
                      "[$__rate_interval]))", "{{integration}} failed", ref="B")],
              unit="ops"),
        panel("timeseries", "Notification latency (p90)",
              [target("histogram_quantile(0.9, sum by (le, integration) (rate("
                      "alertmanager_notification_latency_seconds_bucket[$__rate_interval])))",
                      "{{integration}}")],
              unit="s"),
        panel("timeseries", "Prometheus -> Alertmanager",
              [target("rate(prometheus_notifications_sent_total[$__rate_interval])", "sent",
                      ref="A"),
               target("rate(prometheus_notifications_errors_total[$__rate_interval])",
                      "errors", ref="B"),
               target("rate(prometheus_notifications_dropped_total[$__rate_interval])",
                      "dropped", ref="C")],
              unit="ops"),
        panel("timeseries", "Alertmanager alerts by state",
              [target("sum by (state) (alertmanager_alerts)", "{{state}}")]),
    ]
    return dashboard("homelab-alerts", "HomeLab / Alerts and notifications", panels, [],
                     ["alerts"], "Alerts firing and muted, thresholds from Discord, and the "
                     "delivery of notifications to the bot.")


def internals() -> dict[str, Any]:
    """The exporter's and the bot's own health."""
    e = 'job="homelab-exporter", instance=~"$instance"'
    panels = [
        row("Exporter"),
        panel("table", "Collectors failing",
              [target(f"homelab_exporter_collector_success{{{e}}} == 0", instant=True)], w=8),
        panel("timeseries", "Collector duration",
              [target(f"homelab_exporter_collector_duration_seconds{{{e}}}",
                      "{{instance}} {{collector}}")],
              unit="s", w=8),
        panel("timeseries", "Cache age",
              [target(f"homelab_exporter_cache_age_seconds{{{e}}}", "{{instance}} {{collector}}")],
              unit="s", w=8),
        panel("timeseries", "Scrape duration",
              [target(f"scrape_duration_seconds{{{e}}}", "{{instance}}")], unit="s", w=8),
        panel("timeseries", "Samples per scrape",
              [target(f"scrape_samples_scraped{{{e}}}", "{{instance}}")], w=8),
        panel("stat", "Exporters up", [target(f"sum(up{{{e}}})")], w=8),
        row("Exporter -> InfluxDB"),
        panel("timeseries", "Points written",
              [target(f"rate(homelab_exporter_influx_points_written_total{{{e}}}"
                      "[$__rate_interval])", "{{instance}}")],
              unit="ops", w=8),
        panel("timeseries", "Write errors and dropped points",
              [target(f"rate(homelab_exporter_influx_write_errors_total{{{e}}}"
                      "[$__rate_interval])", "{{instance}} errors", ref="A"),
               target(f"rate(homelab_exporter_influx_points_dropped_total{{{e}}}"
                      "[$__rate_interval])", "{{instance}} dropped", ref="B")],
              unit="ops", w=8),
        panel("timeseries", "Since last successful write",
              [target(f"time() - homelab_exporter_influx_last_success_timestamp_seconds{{{e}}}",
                      "{{instance}}")],
              unit="s", w=8),
        panel("timeseries", "Spool fill",
              [target(f"homelab_exporter_influx_spool_bytes{{{e}}} / "
                      f"homelab_exporter_influx_spool_limit_bytes{{{e}}}", "{{instance}}")],
              unit="percentunit", lo=0, hi=1, w=12),
        panel("timeseries", "Points waiting in the spool",
              [target(f"homelab_exporter_influx_points_spooled{{{e}}}", "{{instance}}")], w=12),
        row("Bot"),
        panel("stat", "Bot up", [target('up{job="homelab-bot"}')], w=6, h=4,
              steps=[("red", None), ("green", 1)]),
        panel("stat", "Bot scrape duration", [target('scrape_duration_seconds{job="homelab-bot"}')],
              unit="s", w=6, h=4),
        panel("stat", "Thresholds published",
              [target('count(homelab_alert_threshold{job="homelab-bot"}) or vector(0)')], w=6, h=4),
        panel("stat", "Commands refused (1h)",
              [target('sum(increase(homelab_bot_commands_total{outcome="refused"}[1h]))')],
              w=6, h=4),
        panel("timeseries", "Commands by name and outcome",
              [target("sum by (command, outcome) (rate(homelab_bot_commands_total"
                      "[$__rate_interval]))", "{{command}} {{outcome}}")],
              unit="ops", w=24),
    ]
    variables = [
        query_var("instance", 'label_values(up{job="homelab-exporter"}, instance)', "Exporter",
                  multi=True),
    ]
    return dashboard("homelab-internals", "HomeLab / Exporter and bot internals", panels,
                     variables, ["internals"],
                     "The exporter's collectors and InfluxDB writer, and the bot's own metrics.")


DASHBOARDS = {
    "fleet-overview.json": fleet_overview,
    "host-detail.json": host_detail,
    "alerts-and-notifications.json": alerts_and_notifications,
    "internals.json": internals,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: json.dumps(make(), indent=2) + "\n" for name, make in DASHBOARDS.items()}


def main() -> None:
    """Write every dashboard to grafana/dashboards/."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        log.info("wrote %s", OUT / name)


if __name__ == "__main__":
    main()
