"""The textfile collector: *.prom files of a directory served as node_exporter serves them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families

from exporter.collection import Collection
from exporter.config import RuntimeConfig
from exporter.prometheus import Exposition
from exporter.sampling import Sampler
from exporter.settings import ExporterSettings
from exporter.textfile import TextfileReader, parse
from tests.exporter.conftest import fake_psutil

GOOD = """\
# HELP backup_last_success_seconds When the backup last succeeded.
# TYPE backup_last_success_seconds gauge
backup_last_success_seconds{job="nas"} 1.7e9
# TYPE backup_runs_total counter
backup_runs_total{job="nas"} 12
# TYPE backup_duration_seconds histogram
backup_duration_seconds_bucket{le="60"} 3
backup_duration_seconds_bucket{le="+Inf"} 4
backup_duration_seconds_sum 200
backup_duration_seconds_count 4
"""


def _exposition(procfs: Path, sysfs: Path, directory: Path | str) -> Exposition:
    sampler = Sampler(procfs=procfs, sysfs=sysfs, ps=fake_psutil())
    return Exposition(Collection(sampler, textfile_directory=str(directory)))


def _scrape(exp: Exposition, openmetrics: bool = False) -> dict[str, dict[tuple, float]]:
    text = exp.render(openmetrics=openmetrics).decode()
    parser = om_parse if openmetrics else text_string_to_metric_families
    out: dict[str, dict[tuple, float]] = {}
    for fam in parser(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _write(path: Path, text: str, mtime: int = 1_700_000_123) -> Path:
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def test_samples_of_a_good_file_are_served_with_its_mtime(
    procfs: Path, sysfs: Path, tmp_path: Path
) -> None:
    good = _write(tmp_path / "backup.prom", GOOD)
    _write(tmp_path / "notes.txt", "not_read 1\n")
    exp = _exposition(procfs, sysfs, tmp_path)
    for openmetrics in (False, True):
        got = _scrape(exp, openmetrics)
        assert got["backup_last_success_seconds"] == {(("job", "nas"),): 1.7e9}
        assert got["backup_runs_total"] == {(("job", "nas"),): 12}
        assert got["backup_duration_seconds_bucket"][(("le", "+Inf"),)] == 4
        assert got["backup_duration_seconds_count"] == {(): 4}
        assert got["node_textfile_mtime_seconds"] == {(("file", str(good)),): 1_700_000_123}
        assert got["node_textfile_scrape_error"] == {(): 0}
        assert "not_read" not in got
        assert got["node_scrape_collector_success"][(("collector", "textfile"),)] == 1
    text = exp.render().decode()
    assert "# HELP backup_runs_total Metric read from " + str(good) in text
    assert "# TYPE backup_duration_seconds histogram" in text


def test_a_bad_file_sets_scrape_error_and_the_others_are_still_served(
    procfs: Path, sysfs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = _write(tmp_path / "a.prom", GOOD)
    _write(tmp_path / "b.prom", "this is { not a metric\n")
    _write(tmp_path / "c.prom", "stamped 1 1700000000000\n")  # client-side timestamp
    (tmp_path / "d.prom").write_bytes(b"latin \xe9 1\n")
    exp = _exposition(procfs, sysfs, tmp_path)
    with caplog.at_level(logging.ERROR, "exporter.textfile"):
        got = _scrape(exp)
    assert got["node_textfile_scrape_error"] == {(): 1}
    assert got["backup_runs_total"] == {(("job", "nas"),): 12}
    assert got["node_textfile_mtime_seconds"] == {(("file", str(good)),): 1_700_000_123}
    assert "stamped" not in got
    logged = caplog.text
    assert "b.prom" in logged and "c.prom" in logged and "timestamps" in logged
    assert "d.prom" in logged
    # each problem is logged once, not at every scrape
    caplog.clear()
    with caplog.at_level(logging.ERROR, "exporter.textfile"):
        assert _scrape(exp)["node_textfile_scrape_error"] == {(): 1}
    assert caplog.text == ""
    # fixed: error 0 again, its samples served
    _write(tmp_path / "b.prom", "fixed_metric 5\n", mtime=1_700_000_200)
    (tmp_path / "c.prom").unlink()
    (tmp_path / "d.prom").unlink()
    got = _scrape(exp)
    assert got["node_textfile_scrape_error"] == {(): 0}
    assert got["fixed_metric"] == {(): 5}
    fixed = (("file", str(tmp_path / "b.prom")),)
    assert got["node_textfile_mtime_seconds"][fixed] == 1_700_000_200


def test_no_directory_configured_reads_nothing_and_reports_no_error(
    procfs: Path, sysfs: Path
) -> None:
    got = _scrape(_exposition(procfs, sysfs, ""))
    assert got["node_textfile_scrape_error"] == {(): 0}  # as node_exporter without the flag
    assert "node_textfile_mtime_seconds" not in got


def test_a_missing_directory_is_an_error_and_an_empty_one_is_not(
    procfs: Path, sysfs: Path, tmp_path: Path
) -> None:
    assert _scrape(_exposition(procfs, sysfs, tmp_path / "nope"))[
        "node_textfile_scrape_error"] == {(): 1}  # fmt: skip
    got = _scrape(_exposition(procfs, sysfs, tmp_path))
    assert got["node_textfile_scrape_error"] == {(): 0}
    assert "node_textfile_mtime_seconds" not in got


def test_a_file_clashing_with_the_exporters_own_metrics_is_left_out(
    procfs: Path, sysfs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As node_exporter's registry: a sample the exporter serves itself, under another help
    or with the same labels, is refused and logged; the exporter's own value stays."""
    exp = _exposition(procfs, sysfs, tmp_path)
    own = _scrape(exp)["node_load1"]
    _write(tmp_path / "clash.prom", "# HELP node_load1 Mine.\n# TYPE node_load1 gauge\n"
           "node_load1 99\nmine_too 1\n")  # fmt: skip
    with caplog.at_level(logging.ERROR, "exporter.prometheus"):
        got = _scrape(exp)
    assert got["node_load1"] == own
    assert got["mine_too"] == {(): 1}  # the rest of the file is served
    assert "node_load1" in caplog.text
    # the same help and type with new labels joins the family, duplicate labels do not
    _write(
        tmp_path / "clash.prom",
        "# HELP node_load1 1m load average.\n"
        '# TYPE node_load1 gauge\nnode_load1{vm="a"} 3\nnode_load1 99\n',
        mtime=1_700_000_300,
    )
    got = _scrape(exp)
    assert got["node_load1"] == {**own, (("vm", "a"),): 3}
    # a file cannot fake the collector's own families either
    _write(tmp_path / "clash.prom", "node_textfile_scrape_error 0\n", mtime=1_700_000_400)
    _write(tmp_path / "z.prom", "broken {\n")
    assert _scrape(exp)["node_textfile_scrape_error"] == {(): 1}


def test_families_of_one_name_from_several_files_merge_unless_their_help_differs(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "a.prom", "# HELP events_total Events.\n# TYPE events_total counter\n"
           'events_total{file="a"} 10\n')  # fmt: skip
    _write(tmp_path / "b.prom", '# TYPE events_total counter\nevents_total{file="b"} 30\n')
    read = TextfileReader(str(tmp_path)).read()
    assert not read.error
    [events] = read.metrics
    assert events.documentation == "Events."
    assert [s.value for s in events.samples] == [10, 30]
    _write(tmp_path / "c.prom", "# HELP events_total Other.\n# TYPE events_total counter\n"
           'events_total{file="c"} 50\n')  # fmt: skip
    read = TextfileReader(str(tmp_path)).read()
    assert read.error
    assert [s.value for s in read.metrics[0].samples] == [10, 30]
    assert len(read.mtimes) == 3  # every file was read: only the family is refused


def test_a_counter_declared_without_total_keeps_its_name(tmp_path: Path) -> None:
    """prometheus_client's parser would rename it `x_total`; node_exporter serves `x`."""
    [metric] = parse("# TYPE jobs_done counter\njobs_done 4\n", "f.prom")
    assert [s.name for s in metric.samples] == ["jobs_done"]
    assert metric.type == "unknown"
    [metric] = parse("# TYPE jobs_total counter\njobs_total 4\n", "f.prom")
    assert (metric.name, metric.type, metric.samples[0].name) == ("jobs", "counter", "jobs_total")


def test_an_unchanged_file_is_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exporter.textfile as textfile

    _write(tmp_path / "a.prom", GOOD)
    calls: list[str] = []
    real = textfile.parse

    def counted(text: str, path: str) -> list[object]:
        calls.append(path)
        return real(text, path)  # type: ignore[return-value]

    monkeypatch.setattr(textfile, "parse", counted)
    reader = TextfileReader(str(tmp_path))
    first, second = reader.read(), reader.read()
    assert len(calls) == 1 and first.metrics == second.metrics
    _write(tmp_path / "a.prom", GOOD + "extra 1\n")
    assert "extra" in [m.name for m in reader.read().metrics]
    assert len(calls) == 2


def test_a_glob_names_several_directories(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        _write(tmp_path / name / "m.prom", f"from_{name} 1\n")
    read = TextfileReader(str(tmp_path / "*")).read()
    assert sorted(m.name for m in read.metrics) == ["from_one", "from_two"]
    assert not read.error


def test_the_setting_reaches_the_runtime_config(tmp_path: Path) -> None:
    settings = ExporterSettings(textfile_directory=str(tmp_path))
    assert RuntimeConfig.from_settings(settings).textfile_directory == str(tmp_path)
    assert RuntimeConfig().textfile_directory == ""
