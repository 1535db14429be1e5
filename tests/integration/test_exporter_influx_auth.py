"""The v1 writer against a real InfluxDB 1.6 with authentication on.

Right credentials deliver; a wrong password is refused a bounded number of times, loses no
point and is never logged; a user who may write but not create databases still writes.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exporter import schema
from exporter.collection import Collection
from exporter.config import InfluxConfig
from exporter.influx import GIVE_UP_ATTEMPTS, PAUSED_RETRY_SECONDS, InfluxWriter
from exporter.sampling import Sampler
from tests.harness.exporter import Exporter, spooled_times
from tests.harness.influx_auth import ADMIN_PASSWORD, ADMIN_USER, AuthInfluxDB
from tests.harness.services import Service, wait_until

pytestmark = pytest.mark.integration

DB = "telegraf"
HOST = "authhost"
WRITER = "writer"
WRITER_PASSWORD = "Wr1ter-pass-7f3e"  # a throwaway server's credential
WRONG_PASSWORD = "Wr0ng-pass-c41d"


@pytest.fixture
def influx_auth(start_service: Callable[..., Any]) -> AuthInfluxDB:
    """InfluxDB 1.6 with auth-enabled = true and an admin user."""
    return start_service(AuthInfluxDB)  # type: ignore[no-any-return]




def _leaks(text: str, user: str, password: str) -> list[str]:
    """Forms in which a password could show up in a log: plain, in a Basic header, redacted."""
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [form for form in (password, basic, "[REDACTED]") if form in text]


def _exporter(start_service: Callable[..., Any], influx: AuthInfluxDB, **influx_kw: Any) -> Any:
    settings = {
        "enabled": True, "url": influx.url, "database": DB, "interval_seconds": 0.3,
        "max_backoff_seconds": 0.2, **influx_kw,
    }  # fmt: skip
    return start_service(Exporter, hostname=HOST, log_level="DEBUG", influx=settings)


def test_right_credentials_deliver_and_the_password_is_never_logged(
    start_service: Callable[..., Any], influx_auth: AuthInfluxDB
) -> None:
    """An admin user's points arrive (database auto-created); log and /metrics hold no secret."""
    status, _ = influx_auth.query_status("SHOW DATABASES")
    assert status == 401, "the server must refuse anonymous queries for this test to mean much"
    exp: Exporter = _exporter(
        start_service, influx_auth, username=ADMIN_USER, password=ADMIN_PASSWORD
    )
    wait_until(lambda: {"cpu", "mem", "system"} <= influx_auth.measurements(DB), what="points")
    rows = influx_auth.series(f"SELECT load1 FROM system WHERE host = '{HOST}'", DB)  # noqa: S608
    assert rows and rows[0]["values"]
    assert (exp.sample_value(schema.INFLUX_POINTS_WRITTEN) or 0) > 0
    assert exp.sample_value(schema.INFLUX_WRITE_ERRORS) == 0
    assert set(influx_auth.requests("POST", "/write")) == {204}
    scrape = exp.scrape()
    exp.stop()
    log_text = exp.log_path.read_text()
    assert _leaks(log_text + scrape, ADMIN_USER, ADMIN_PASSWORD) == []



def test_wrong_password_is_refused_five_times_then_points_wait_for_the_fix(
    start_service: Callable[..., Any], influx_auth: AuthInfluxDB
) -> None:
    """401: InfluxDB's message logged, 5 requests, none dropped; once fixed, every point arrives."""
    exp: Exporter = _exporter(
        start_service, influx_auth, username=ADMIN_USER, password=WRONG_PASSWORD
    )
    wait_until(lambda: "stopped retrying" in exp.log_path.read_text(), what="the writer to give up")
    time.sleep(2.0)  # several sampling intervals and backoff caps later: still no new attempt
    refused = influx_auth.requests("POST", "/write")
    assert refused == [401] * GIVE_UP_ATTEMPTS
    assert exp.sample_value(schema.INFLUX_WRITE_ERRORS) == GIVE_UP_ATTEMPTS
    assert exp.sample_value(schema.INFLUX_POINTS_DROPPED) == 0
    assert (exp.sample_value(schema.INFLUX_POINTS_SPOOLED) or 0) > 0
    scrape = exp.scrape()
    exp.stop()
    log_text = exp.log_path.read_text()
    assert "authorization failed" in log_text  # InfluxDB's own words
    assert "check username and password in [exporter.influx]" in log_text
    assert f"checking again every {int(PAUSED_RETRY_SECONDS // 60)} minutes" in log_text
    assert _leaks(log_text + scrape, ADMIN_USER, WRONG_PASSWORD) == []

    pending = spooled_times(Path(exp.settings["influx"]["spool_dir"]))
    assert len(pending) >= 3
    exp.settings["influx"]["password"] = ADMIN_PASSWORD  # the operator fixes the setting
    exp.start()
    wait_until(lambda: exp.sample_value(schema.INFLUX_POINTS_SPOOLED) == 0, what="spool to drain")
    rows = influx_auth.series(f"SELECT load1 FROM system WHERE host = '{HOST}'", DB)  # noqa: S608
    stored = {_ms(r[0]) for r in rows[0]["values"]}
    assert pending <= stored, f"{len(pending - stored)} points refused earlier never arrived"
    assert exp.sample_value(schema.INFLUX_POINTS_DROPPED) == 0


def _ms(rfc3339: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def test_non_admin_user_writes_to_an_existing_database_despite_the_403(
    start_service: Callable[..., Any], influx_auth: AuthInfluxDB
) -> None:
    """CREATE DATABASE answers 403 for a plain user: one clear line, and the writes go in."""
    influx_auth.query(f'CREATE DATABASE "{DB}"', method="POST")
    influx_auth.create_user(WRITER, WRITER_PASSWORD)
    influx_auth.query(f'GRANT WRITE ON "{DB}" TO "{WRITER}"', method="POST")
    exp: Service = _exporter(
        start_service, influx_auth, username=WRITER, password=WRITER_PASSWORD
    )
    wait_until(lambda: {"cpu", "mem", "system"} <= influx_auth.measurements(DB), what="points")
    assert influx_auth.requests("POST", "/query", WRITER) == [403]  # asked once, not per batch
    writes = influx_auth.requests("POST", "/write", WRITER)
    assert len(writes) >= 2 and set(writes) == {204}  # the first write went in too
    exp.stop()
    log_text = exp.log_path.read_text()
    assert log_text.count(f'InfluxDB user "{WRITER}" may not create databases') == 1
    assert "requires admin privilege" in log_text  # InfluxDB's message
    assert "create_database = false" in log_text  # how to skip the step
    assert "InfluxDB refused" not in log_text
    assert _leaks(log_text, WRITER, WRITER_PASSWORD) == []


def test_non_admin_user_and_no_database_is_explained_and_keeps_the_points(
    influx_auth: AuthInfluxDB, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No database and no right to create it: 404 with a hint to create it; points kept."""
    influx_auth.create_user(WRITER, WRITER_PASSWORD)
    cfg = InfluxConfig(
        enabled=True, url=influx_auth.url, database=DB, username=WRITER,
        password=WRITER_PASSWORD, spool_dir=str(tmp_path / "spool"),
    )  # fmt: skip
    writer = InfluxWriter(cfg, HOST, Collection(Sampler()).snapshot)
    sampled = writer.sample_once()
    with caplog.at_level(logging.DEBUG, logger="exporter"):
        outcomes = [writer.deliver_once() for _ in range(GIVE_UP_ATTEMPTS + 1)]
    assert outcomes[GIVE_UP_ATTEMPTS - 1].retry_in == PAUSED_RETRY_SECONDS
    assert influx_auth.requests("POST", "/write") == [404] * (GIVE_UP_ATTEMPTS + 1)
    assert influx_auth.requests("POST", "/query", WRITER) == [403]
    assert writer.spool.points() == sampled
    assert writer.stats()[schema.INFLUX_POINTS_DROPPED] == 0
    assert "database not found" in caplog.text  # InfluxDB's message
    assert f'database "{DB}" does not exist: create it as an admin' in caplog.text
    assert _leaks(caplog.text, WRITER, WRITER_PASSWORD) == []

    influx_auth.query(f'CREATE DATABASE "{DB}"', method="POST")  # the admin fixes it
    influx_auth.query(f'GRANT WRITE ON "{DB}" TO "{WRITER}"', method="POST")
    assert writer.deliver_once().delivered == sampled
