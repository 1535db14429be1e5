"""InfluxDB 2.x in a backup: `influx backup` through the 2.x CLI when /ping says 2.x, the
operator token in the CLI's environment only; restore checks the backup's own manifest and
says how to `influx restore` it. Against tests/harness/influx2 (no 2.x server or CLI can be
installed here), which answers and refuses as the real ones do."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters import backup_influx2 as influx2
from bot.adapters.backup import BackupSources, RestoreError, create_backup, restore_backup
from tests.harness.influx2 import FakeInfluxDB2, write_cli
from tests.integration.test_backup import KEY, _seed

pytestmark = pytest.mark.integration

TOKEN = "influx2-operator-canary-Jw3Xk8"


@pytest.fixture
def server() -> Iterator[FakeInfluxDB2]:
    """The simulated 2.x server."""
    with FakeInfluxDB2(TOKEN) as s:
        yield s


def _on_path(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")


def _sources(db: Path, server: FakeInfluxDB2, token: str = TOKEN) -> BackupSources:
    return BackupSources(db, influxdb_rpc="127.0.0.1:1", influxdb_url=server.url,
                         influxdb_token=token)  # fmt: skip


def test_a_2x_server_is_backed_up_with_influx_backup_and_restore_checks_it(
    tmp_path: Path, server: FakeInfluxDB2, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/ping says v2.7.4: the archive holds `influx backup`'s files, the token was never an
    argument; restore verifies every file of the 2.x manifest and prints `influx restore`."""
    bin_dir = write_cli(tmp_path / "bin")
    _on_path(monkeypatch, bin_dir)
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db, filler_rows=10)
    result = create_backup(_sources(db, server), tmp_path / "b")
    m = result.manifest
    assert "influxdb" in m.parts(), m.skipped
    assert m.versions["influxdb"] == "v2.7.4"
    kinds = sorted(re.sub(r"^influxdb/\d{8}T\d{6}Z", "", f.path) for f in m.files
                   if f.path.startswith("influxdb/"))  # fmt: skip
    assert kinds == [".bolt.gz", ".manifest", ".s1.tar.gz", ".s2.tar.gz", ".sqlite.gz"]
    argv = (bin_dir / "argv.log").read_text()
    assert "backup" in argv and TOKEN not in argv  # in INFLUX_TOKEN, not on the command line

    restored = restore_backup(result.archive, tmp_path / "fresh" / "bot.sqlite3", KEY,
                              influxdb_rpc="127.0.0.1:1")  # fmt: skip
    assert restored.unpacked is not None
    notes = "\n".join(restored.instructions)
    assert "InfluxDB 2.x: every file of the backup's manifest present" in notes
    assert "buckets ['homelab']" in notes and "influx restore" in notes

    with pytest.raises(RestoreError, match="goes back through InfluxDB's API"):
        restore_backup(result.archive, tmp_path / "f2" / "bot.sqlite3", KEY,
                       influxdb_data=tmp_path / "f2" / "influxdb")  # fmt: skip
    assert not (tmp_path / "f2" / "bot.sqlite3").exists()


def test_the_2x_backup_check_names_a_missing_cut_or_resized_file(
    tmp_path: Path, server: FakeInfluxDB2, monkeypatch: pytest.MonkeyPatch
) -> None:
    """influx2.verify: a file of the 2.x manifest missing, of another size, or a gzip stream
    cut short, each named."""
    _on_path(monkeypatch, write_cli(tmp_path / "bin"))
    folder = tmp_path / "influxdb"
    assert influx2.backup(server.url, TOKEN, folder) is None
    assert influx2.verify(folder) == ([], ["homelab"])
    (manifest,) = influx2.manifests(folder)
    doc = json.loads(manifest.read_text())
    kv = folder / doc["kv"]["fileName"]
    kv.write_bytes(kv.read_bytes()[:-6])
    doc["kv"]["size"] = kv.stat().st_size  # the size agrees: only gzip notices the cut
    manifest.write_text(json.dumps(doc))
    sql = folder / doc["sql"]["fileName"]
    sql.write_bytes(sql.read_bytes() + b"x")
    shard = doc["buckets"][0]["retentionPolicies"][0]["shardGroups"][0]["shards"][0]
    (folder / shard["fileName"]).unlink()
    problems, _ = influx2.verify(folder)
    assert len(problems) == 3, problems
    assert any("not a whole gzip stream" in p for p in problems)
    assert any("bytes," in p and "says" in p for p in problems)
    assert any("but missing" in p for p in problems)


def test_what_stops_a_2x_backup_is_a_note(
    tmp_path: Path, server: FakeInfluxDB2, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong token (the server's 401), no token, no CLI or only Debian's 1.x shell: the
    backup goes on without InfluxDB and says why."""
    db = tmp_path / "live" / "bot.sqlite3"
    _seed(db, filler_rows=0)
    _on_path(monkeypatch, write_cli(tmp_path / "bin"))
    cases = {
        "wrong token": (_sources(db, server, "nope"), "401 Unauthorized: unauthorized access"),
        "no token": (_sources(db, server, ""), "needs an operator token"),
    }
    for what, (sources, says) in cases.items():
        m = create_backup(sources, tmp_path / what.replace(" ", "-")).manifest
        (why,) = [s.reason for s in m.skipped if s.part == "influxdb"]
        assert says in why, (what, why)
        assert "influxdb" not in m.parts()
    _on_path(monkeypatch, write_cli(tmp_path / "shell", shell_1x=True))
    m = create_backup(_sources(db, server), tmp_path / "shell-backup").manifest
    (why,) = [s.reason for s in m.skipped if s.part == "influxdb"]
    assert "needs the influx CLI 2.x" in why and "1.x" in why
