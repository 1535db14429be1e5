"""InfluxDB 1.x with authentication on, for tests of clients that log in.

The same server as `tests.harness.services.InfluxDB`, with `[http] auth-enabled = true` and the
HTTP access log on (so a test can count the requests a client made). InfluxDB lets the first
user be created without credentials; `start()` creates an admin user that way, and every
query of this class then authenticates as that admin with HTTP Basic auth.

Example::

    influx = AuthInfluxDB(tmp_path).start()
    influx.create_user("writer", "pw")          # not an admin
    influx.query('GRANT WRITE ON "telegraf" TO "writer"', method="POST")
    influx.requests("POST", "/write")           # how many writes the server has seen
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

from tests.harness.services import READY_TIMEOUT, InfluxDB, Service, ServiceError, http

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-Pw-4-tests"  # a throwaway server's credential


def basic_auth(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP Basic auth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class AuthInfluxDB(InfluxDB):
    """InfluxDB 1.x that requires credentials; queries run as the admin user."""

    name = "influxdb-auth"

    def prepare(self) -> None:
        """influxdb.conf with authentication and the HTTP access log on."""
        super().prepare()
        text = self.config_path.read_text()
        text = text.replace(
            "  log-enabled = false\n",
            "  log-enabled = true\n  auth-enabled = true\n",
        )
        if "auth-enabled = true" not in text:
            raise ServiceError("could not turn on auth-enabled in the generated influxdb.conf")
        self.config_path.write_text(text)

    def start(self, timeout: float = READY_TIMEOUT) -> Service:
        """Start, then create the admin user (allowed once, while no user exists)."""
        super().start(timeout)
        q = f"CREATE USER \"{ADMIN_USER}\" WITH PASSWORD '{ADMIN_PASSWORD}' WITH ALL PRIVILEGES"
        status, raw = http("POST", f"{self.url}/query?{urllib.parse.urlencode({'q': q})}")
        # After a restart the user exists already; InfluxDB then wants credentials (401).
        if status not in (200, 401):
            raise ServiceError(f"creating the admin user answered {status}: {raw!r}")
        return self

    def query(
        self,
        q: str,
        db: str | None = None,
        method: str = "GET",
        user: str = ADMIN_USER,
        password: str = ADMIN_PASSWORD,
    ) -> dict[str, Any]:
        """Run InfluxQL as `user` (the admin by default) and return the decoded JSON."""
        return super().query(q, db, method, headers=basic_auth(user, password))

    def query_status(self, q: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """Status and body of one /query request with the given headers (none: anonymous)."""
        url = f"{self.url}/query?{urllib.parse.urlencode({'q': q})}"
        status, raw = http("GET", url, headers=headers)
        return status, raw.decode(errors="replace")

    def create_user(self, user: str, password: str, admin: bool = False) -> None:
        """CREATE USER, as the admin."""
        extra = " WITH ALL PRIVILEGES" if admin else ""
        self.query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}'{extra}", method="POST")

    def write(self, db: str, lines: str, precision: str = "ns") -> None:
        """Write line protocol as the admin."""
        qs = urllib.parse.urlencode({"db": db, "precision": precision})
        headers = basic_auth(ADMIN_USER, ADMIN_PASSWORD)
        status, raw = http("POST", f"{self.url}/write?{qs}", raw=lines.encode(), headers=headers)
        if status != 204:
            raise ServiceError(f"influx write -> {status}: {raw!r}")

    def requests(self, method: str, path: str, user: str | None = None) -> list[int]:
        """Statuses of the access log's `method path` requests (by `user`, if given)."""
        who = re.escape(user) if user is not None else r"\S+"
        pattern = re.compile(
            rf' - {who} \[[^\]]*\] "{re.escape(method)} {re.escape(path)}(?:\?[^ "]*)? '
            rf'HTTP/[\d.]+" (\d{{3}})'
        )
        return [int(m.group(1)) for m in pattern.finditer(self.log_tail(lines=1_000_000))]
