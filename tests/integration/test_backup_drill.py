"""The backup and restore drill of docs/operations.md against real services: a running
Prometheus and InfluxDB and a bot database with its vault (audit key and backup passphrase in
it), backed up with `homelab-bot backup`, restored with `homelab-bot restore` into fresh
folders on a "new machine" that has only the archive, the key file and the two keys kept
apart; the restored Prometheus and InfluxDB, started on the restored folders, answer with the
same series and points, the database has the manifest's row counts and a verifying audit
chain, every secret reads back; a restore while the services run is refused and changes
nothing, and one after they stop keeps the previous folders aside."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.backup_crypto import decrypt_file
from bot.adapters.vault import Vault
from bot.domain.backup import Manifest
from tests.harness.services import InfluxDB, Prometheus

pytestmark = pytest.mark.integration

BOT = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
AUDIT_KEY = "drill-audit-key-" + "a" * 24
PASSPHRASE = "drill-backup-passphrase-Vd8Kq"
CANARY = "drill-discord-token-Zr4Mw9"
POINTS = 600
ROOT = Path(__file__).resolve().parents[2]


def _config(folder: Path, prom: str, influx_http: str, influx_rpc: str) -> Path:
    cfg = folder / "homelab.toml"
    cfg.write_text(
        "\n".join(
            [
                "[bot]",
                f'database_path = "{folder / "bot" / "bot.sqlite3"}"',
                f'image_dir = "{folder / "img"}"',
                "[bot.vault]",
                f'key_file = "{folder / "vault.key"}"',
                "[bot.audit]",
                'key = "secret:audit-key"',
                "[bot.backup]",
                'encryption_key = "secret:backup-key"',
                f'directory = "{folder / "backups"}"',
                "[bot.discord]",
                'token = "secret:discord-token"',
                "[bot.prometheus]",
                f'url = "{prom}"',
                "[bot.influxdb]",
                "enabled = true",
                f'url = "{influx_http}"',
                f'rpc_address = "{influx_rpc}"',
            ]
        )
        + "\n"
    )
    return cfg


RAN: list[tuple[str, ...]] = []  # the shape of each command the drill ran (see _shape)


def _shape(args: list[str]) -> tuple[str, ...]:
    """A command without its values: the leading words (command, subcommand, secret name),
    then its options, sorted; --json left out (either way is the same command)."""
    if args[:1] == ["--config"]:  # the settings file: which machine, not which command
        args = args[2:]
    words: list[str] = []
    for w in args:
        if not re.fullmatch(r"[a-z][a-z-]*", w):
            break
        words.append(w)
    return (*words, *sorted({a for a in args if a.startswith("--") and a != "--json"}))


def _documented_drill() -> list[tuple[str, ...]]:
    """The shape of each homelab-bot command in the drill section of docs/operations.md."""
    text = (ROOT / "docs" / "operations.md").read_text()
    drill = text.split("## The drill", 1)[1].split("\n## ", 1)[0]
    found = []
    for block in re.findall(r"```sh\n(.*?)```", drill, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line.startswith("homelab-bot "):
                continue
            words = shlex.split(line.split(" #", 1)[0].split("<", 1)[0])
            if words and words[0] == "homelab-bot":
                found.append(_shape(words[1:]))
    return found


def _bot(cfg: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    RAN.append(_shape(list(args)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    return subprocess.run(
        [*BOT, "--config", str(cfg), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _ok(out: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def _samples(prom: Prometheus, at: float) -> list[dict[str, Any]]:
    """Every raw sample of the self-scrape in the hour before `at`, sorted by series."""
    data = prom.api("query", query='{job="self"}[1h]', time=f"{at:.3f}")
    return sorted(data["result"], key=lambda r: json.dumps(r["metric"], sort_keys=True))


def _points(influx: InfluxDB) -> list[list[Any]]:
    (series,) = influx.series("SELECT * FROM cpu", "homelab")
    return list(series["values"])


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _counts(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(db)) as c:
        names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        q = 'SELECT COUNT(*) FROM "{}"'.format
        return {n: int(c.execute(q(n)).fetchone()[0]) for n in names if not n.startswith("sqlite_")}


def test_the_drill_restores_every_part_into_fresh_folders(
    tmp_path: Path, start_service: Callable[..., Any]
) -> None:
    """Backup while everything runs, restore on a fresh machine, compare everything."""
    # -- the running stack --------------------------------------------------------------------
    prom: Prometheus = start_service(Prometheus)
    prom.reload(
        scrape_configs=[{"job_name": "self", "static_configs": [{"targets": [prom.address]}]}]
    )
    prom.wait_for('up{job="self"} == 1', lambda r: len(r) == 1)
    influx: InfluxDB = start_service(InfluxDB)
    influx.create_database("homelab")
    influx.write(
        "homelab",
        "\n".join(f"cpu,host=h{i % 5} value={i} {1700000000 + i}000000000" for i in range(POINTS)),
    )
    live = tmp_path / "live"
    live.mkdir()
    rpc = f"127.0.0.1:{influx.rpc_port}"
    cfg = _config(live, prom.url, influx.url, rpc)
    _ok(_bot(cfg, "secrets", "set", "audit-key", stdin=AUDIT_KEY))
    _ok(_bot(cfg, "secrets", "set", "backup-key", stdin=PASSPHRASE))
    _ok(_bot(cfg, "secrets", "set", "discord-token", stdin=CANARY))
    _ok(_bot(cfg, "keys", "rotate"))  # secrets under k2, k1 still in the file

    # -- 1. the backup, while Prometheus scrapes and InfluxDB runs ----------------------------
    time.sleep(2)  # a few more scrapes
    before = time.time()
    taken = json.loads(_ok(_bot(cfg, "backup", "--json")).stdout)
    archive = Path(taken["archive"])
    assert archive.name.endswith(".tar.gz.enc") and archive.stat().st_size == taken["size"]
    assert taken["parts"] == ["influxdb", "prometheus", "sqlite"], taken["skipped"]
    want_samples = _samples(prom, before)
    assert len(want_samples) > 10 and all(len(s["values"]) >= 2 for s in want_samples)
    want_points = _points(influx)
    assert len(want_points) == POINTS

    # The manifest, read the way an operator would (decrypt, untar): the reference checksums.
    plain = tmp_path / "plain.tar.gz"
    decrypt_file(archive, plain, PASSPHRASE)
    with tarfile.open(plain) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest = Manifest.from_json(member.read().decode())
    snapshot_sums = {
        f.path.removeprefix("prometheus/"): f.sha256
        for f in manifest.files
        if f.path.startswith("prometheus/")
    }

    # -- 2. a new machine: the archive, the key file and the two keys kept apart --------------
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy2(live / "vault.key", new / "vault.key")  # copy2 keeps the 0600 mode
    shutil.copy2(archive, new / archive.name)
    # Started later on the restored folders; the Prometheus scrapes nothing (adds no sample).
    new_prom, new_influx = Prometheus(new / "prometheus"), InfluxDB(new / "influxdb")
    cfg2 = _config(new, new_prom.url, new_influx.url, f"127.0.0.1:{new_influx.rpc_port}")
    no_key = _bot(cfg2, "restore", str(new / archive.name))
    assert no_key.returncode == 2 and "bot.audit.key: secret 'audit-key'" in no_key.stderr
    _ok(_bot(cfg2, "secrets", "set", "audit-key", stdin=AUDIT_KEY))
    _ok(_bot(cfg2, "secrets", "set", "backup-key", stdin=PASSPHRASE))
    # Only those two: the Discord token comes back with the database.
    assert _bot(cfg2, "check-config").returncode == 2
    db2 = new / "bot" / "bot.sqlite3"

    # -- 3./4. restore into the fresh folders -------------------------------------------------
    prom_data, influx_data = new / "prometheus" / "data", new / "influxdb"
    shutil.rmtree(influx_data)  # InfluxDB(...) made its work folder: a fresh machine has none
    out = _ok(
        _bot(
            cfg2, "restore", str(new / archive.name), "--json",
            "--prometheus-data", str(prom_data), "--influxdb-data", str(influx_data),
        )
    )  # fmt: skip
    done = json.loads(out.stdout)
    assert done["row_counts"] == taken["row_counts"] == dict(manifest.row_counts)
    assert Path(done["previous"]).name.startswith("bot.sqlite3.before-restore-")
    assert done["unpacked"] is None  # both went into place
    assert f"{prom_data} restored" in done["next_steps"]
    assert f"{influx_data} restored" in done["next_steps"]
    assert f"vault: all 3 secrets decrypt with {new / 'vault.key'}" in done["next_steps"]
    assert _tree(prom_data) == snapshot_sums  # the snapshot, byte for byte
    audited = manifest.row_counts["audit_log"] + 1  # the restore's own record
    assert _counts(db2) == {**manifest.row_counts, "audit_log": audited}

    # -- 5./6. start everything on the restored folders and compare ---------------------------
    new_prom.start()
    try:
        assert _samples(new_prom, before) == want_samples
        status = _bot(cfg2, "do", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        new_influx.start()
        try:
            assert _points(new_influx) == want_points
            # Running services: a second restore is refused before it changes anything.
            asides = sorted(new.glob("**/*.before-restore-*"))
            again = _bot(cfg2, "restore", str(new / archive.name), "--prometheus-data",
                         str(prom_data), "--influxdb-data", str(influx_data))  # fmt: skip
            assert again.returncode == 2 and f"{prom_data} is in use by" in again.stderr
            assert sorted(new.glob("**/*.before-restore-*")) == asides
            assert [p.name for p in prom_data.parent.iterdir() if "restor" in p.name] == []
            blocked = _bot(cfg2, "restore", str(new / archive.name),
                           "--influxdb-data", str(influx_data))  # fmt: skip
            assert blocked.returncode == 2 and f"{influx_data} is in use by" in blocked.stderr
        finally:
            new_influx.stop()
    finally:
        new_prom.stop()
    verify = _ok(_bot(cfg2, "audit", "verify"))
    assert "keyed (HMAC-SHA256)" in verify.stdout
    vault = Vault.open(db2, new / "vault.key")
    try:
        assert vault.get("discord-token") == CANARY
        assert vault.get("backup-key") == PASSPHRASE
    finally:
        vault.close()
    check = _ok(_bot(cfg2, "check-config"))
    assert CANARY not in check.stdout

    # Stopped: restoring again keeps the folders the services ran on aside.
    _ok(_bot(cfg2, "restore", str(new / archive.name),
             "--prometheus-data", str(prom_data), "--influxdb-data", str(influx_data)))  # fmt: skip
    (prom_aside,) = prom_data.parent.glob("data.before-restore-*")
    (influx_aside,) = influx_data.parent.glob("influxdb.before-restore-*")
    assert (prom_aside / "wal").is_dir() and (influx_aside / "influxdb.conf").exists()
    assert _tree(prom_data) == snapshot_sums  # no wal/: the snapshot as it was taken

    # Every command of the documented drill is one this test ran.
    documented = _documented_drill()
    assert len(documented) >= 7
    assert [d for d in documented if d not in RAN] == []
