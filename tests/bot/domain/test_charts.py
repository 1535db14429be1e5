"""The named-chart catalogue: every chart of the issue, each query for one host, legends."""

from __future__ import annotations

from bot.domain.charts import CHARTS, InfluxQuery, PromQuery, legend_text

UNITS = {"ratio", "bytes", "bits_per_second", "bytes_per_second", "seconds", "celsius", ""}


def test_catalogue_has_the_named_charts_of_the_issue() -> None:
    """cpu, memory, disk, diskio, network, load and temperature, each with PromQL and InfluxQL."""
    assert set(CHARTS) == {"cpu", "memory", "disk", "diskio", "network", "load", "temperature"}
    for name, chart in CHARTS.items():
        assert chart.name == name and chart.title and chart.help
        assert chart.unit in UNITS
        assert chart.prom and chart.influx


def test_every_promql_selects_the_host_and_every_influxql_is_templated() -> None:
    """Each selector of a PromQuery carries `{host}`; each InfluxQuery filters on $host and
    $timeFilter and groups by time($interval)."""
    for chart in CHARTS.values():
        for q in chart.prom:
            filled = q.expr_for('instance="nas:9100", job="node"')
            assert "{host}" in q.expr and "{host}" not in filled
            assert filled.count("{") == filled.count('instance="nas:9100"'), filled
        for iq in chart.influx:
            assert '"host" =~ /^$host$/' in iq.select and "$timeFilter" in iq.select
            assert "GROUP BY time($interval)" in iq.select


def test_network_leaves_out_loopback_and_ratios_are_bounded() -> None:
    """The network chart excludes lo in both languages; ratio charts run from 0 to 1."""
    assert all('device!="lo"' in q.expr for q in CHARTS["network"].prom)
    assert all("'lo'" in q.select for q in CHARTS["network"].influx)
    for chart in CHARTS.values():
        if chart.unit == "ratio":
            assert (chart.minimum, chart.maximum) == (0.0, 1.0), chart.name


def test_legends_fill_from_labels() -> None:
    """Legend templates take label values; a missing label reads as empty, spaces collapse."""
    assert PromQuery("x", legend="{device} read").name_for({"device": "sda"}) == "sda read"
    assert legend_text("{chip_name} {sensor}", {"sensor": "temp1"}) == "temp1"
    assert InfluxQuery("SELECT", legend_tag="path").name_for({"path": "/srv"}) == "/srv"
    assert InfluxQuery("SELECT", legend="{name} write").name_for({"name": "sda"}) == "sda write"
