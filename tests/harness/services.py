"""Start real Prometheus, Alertmanager, InfluxDB 1.x and node_exporter on loopback for tests.

Each service runs from its own binary (Debian package or upstream build), on a free loopback
port, in a temporary directory. Start-up waits for the service's readiness endpoint with a
bounded timeout; `stop()` ends the whole process group. Every started process is also killed
when the test process exits (atexit) or dies (PR_SET_PDEATHSIG), so a failing or interrupted
run leaves nothing behind.

Example::

    prom = Prometheus(tmp_path, scrape_configs=[static_job("node", node.address)]).start()
    try:
        assert prom.wait_for_value("up", lambda v: v == 1.0)
    finally:
        prom.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from homelab.binaries import BinaryMissing as BinaryMissing
from homelab.binaries import find_binary
from homelab.stack import influx_config

READY_TIMEOUT = 30.0


class ServiceError(RuntimeError):
    """A service could not be started or queried; the message says which and why."""


_RUNNING: set[Service] = set()


def wait_until(predicate: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    """Poll `predicate` until it returns something truthy, and return that; fail after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def uncovered_env() -> dict[str, str]:
    """This environment without `make test`'s coverage of child processes (pytest-cov's and
    coverage's variables): for a child that must not be measured, or whose imports are under
    test (coverage itself imports hashlib, OpenSSL's libcrypto, in every process it measures)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE"))}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask the kernel to SIGKILL this child when the test process dies.

    The signal follows the *thread* that forked: start services from the main thread.
    """
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def http(
    method: str,
    url: str,
    body: Any = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, bytes]:
    """Make one HTTP request and return (status, body) without raising on HTTP errors."""
    data = raw
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Service:
    """One external process on loopback, with its working directory and log file."""

    name = "service"
    binary = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exe = self.find_exe()

    # -- to override --------------------------------------------------------------------
    def argv(self) -> list[str]:
        """Return the command line that starts the service."""
        raise NotImplementedError

    def ready_url(self) -> str:
        """Return the URL that answers 2xx once the service is ready."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Write config files before start."""

    def find_exe(self) -> str:
        """The executable; by default the service binary under its Debian or upstream name."""
        return find_binary(self.binary)

    def child_stdin(self) -> int:
        """The child's stdin: /dev/null, or a file descriptor that start() closes after spawn."""
        return subprocess.DEVNULL

    def child_env(self) -> dict[str, str] | None:
        """The child's environment (None: inherit the test process's)."""
        return None

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """host:port of the HTTP listener."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the HTTP listener."""
        return f"http://{self.address}"

    # Whether the port is only in what `argv`/`prepare` build at start, so it can be moved.
    movable_port = False

    def fresh_ports(self) -> bool:
        """Pick new ports, after another process took one between `free_port()` and the
        service's bind; False (no retry) where a port was handed out before the start."""
        if not self.movable_port:
            return False
        self.port = free_port()
        return True

    def start(self, timeout: float = READY_TIMEOUT) -> Service:
        """Start the process and wait until it is ready, or raise with its log. A port taken
        in the meantime (on a busy machine, a free port is free only until someone binds it)
        is retried on new ports, twice at most, where the service can take new ones."""
        for attempt in range(3):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                return self._start_once(timeout)
            except ServiceError:
                with open(self.log_path, "rb") as log:
                    log.seek(offset)
                    taken = b"address already in use" in log.read()
                if attempt == 2 or not taken or not self.fresh_ports():
                    raise
                _RUNNING.discard(self)
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> Service:
        self.prepare()
        stdin = self.child_stdin()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=stdin,
                env=self.child_env(),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        if stdin >= 0:
            os.close(stdin)
        _RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.proc.returncode} during start-up:\n"
                    + self.log_tail()
                )
            try:
                status, _ = http("GET", self.ready_url(), timeout=2)
                if 200 <= status < 300:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServiceError(f"{self.name} was not ready after {timeout:.0f} s:\n" + self.log_tail())

    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after `timeout` seconds."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        _RUNNING.discard(self)

    def restart(self, timeout: float = READY_TIMEOUT) -> Service:
        """Stop and start again on the same port and data directory."""
        self.stop()
        return self.start(timeout)

    def log_tail(self, lines: int = 60) -> str:
        """Return the last lines of the service's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


def _stop_all() -> None:
    for svc in list(_RUNNING):
        with contextlib.suppress(Exception):
            svc.stop(timeout=5)


atexit.register(_stop_all)


class ServiceGroup:
    """Starts services under one directory and stops them all together (fixture scopes)."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.started: list[Service] = []

    def __call__(self, cls: type[Service], *args: Any, **kwargs: Any) -> Any:
        """Create `cls` in a fresh subdirectory, start it and return it."""
        svc = cls(self.base / f"{cls.name}-{len(self.started)}", *args, **kwargs)
        self.started.append(svc)
        svc.start()
        return svc

    def stop_all(self) -> None:
        """Stop every started service, newest first."""
        for svc in reversed(self.started):
            svc.stop()


def running_services() -> list[Service]:
    """Services started by this process and not yet stopped."""
    return list(_RUNNING)


# -- Prometheus -------------------------------------------------------------------------------


def static_job(job: str, *targets: str, interval: str = "1s", **extra: Any) -> dict[str, Any]:
    """A scrape config for fixed targets."""
    cfg: dict[str, Any] = {
        "job_name": job,
        "scrape_interval": interval,
        "static_configs": [{"targets": list(targets)}],
    }
    cfg.update(extra)
    return cfg


class Prometheus(Service):
    """Prometheus with a generated config; lifecycle and admin APIs on."""

    name = "prometheus"
    binary = "prometheus"
    movable_port = True

    def __init__(
        self,
        workdir: Path,
        scrape_configs: Iterable[dict[str, Any]] = (),
        rule_files: Iterable[str | Path] = (),
        alertmanagers: Iterable[str] = (),
        interval: str = "1s",
        config: dict[str, Any] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(workdir)
        self.scrape_configs = list(scrape_configs)
        self.rule_files = [str(p) for p in rule_files]
        self.alertmanagers = list(alertmanagers)
        self.interval = interval
        self.config_override = config
        self.extra_args = list(extra_args)
        self.config_path = self.workdir / "prometheus.yml"

    def config(self) -> dict[str, Any]:
        """The generated configuration."""
        if self.config_override is not None:
            return self.config_override
        cfg: dict[str, Any] = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "scrape_configs": self.scrape_configs,
            "rule_files": self.rule_files,
        }
        if self.alertmanagers:
            cfg["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": self.alertmanagers}]}]
            }
        return cfg

    def prepare(self) -> None:
        """Write prometheus.yml."""
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    def argv(self) -> list[str]:
        """Command line."""
        return [
            self.exe,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--web.enable-lifecycle",
            "--web.enable-admin-api",
            "--log.level=info",
            *self.extra_args,
        ]

    def ready_url(self) -> str:
        """Readiness endpoint."""
        return f"{self.url}/-/ready"

    def reload(self, **changes: Any) -> None:
        """Apply new scrape configs / rule files and reload through the lifecycle API."""
        for key, value in changes.items():
            setattr(self, key, value)
        self.prepare()
        status, body = http("POST", f"{self.url}/-/reload")
        if status != 200:
            raise ServiceError(f"prometheus reload failed ({status}): {body!r}")

    def api(self, path: str, **params: Any) -> Any:
        """GET an /api/v1 endpoint and return its `data`."""
        qs = urllib.parse.urlencode(params)
        status, body = http("GET", f"{self.url}/api/v1/{path}?{qs}")
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise ServiceError(f"prometheus {path} {params} -> {status}: {doc.get('error')}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query and return the vector result."""
        data = self.api("query", query=expr)
        return list(data["result"]) if data["resultType"] == "vector" else [data]

    def wait_for(
        self, expr: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Poll `expr` until `predicate(result)` holds; raise with the last result otherwise."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.25)
        raise ServiceError(f"{expr!r} never matched in {timeout} s; last result {result}")

    def wait_for_value(
        self, expr: str, predicate: Callable[[float], bool], timeout: float = 30
    ) -> float:
        """Poll a single-series query until its value satisfies `predicate`."""
        result = self.wait_for(
            expr, lambda r: len(r) == 1 and predicate(float(r[0]["value"][1])), timeout
        )
        return float(result[0]["value"][1])


# -- Alertmanager -----------------------------------------------------------------------------

MINIMAL_AM_CONFIG: dict[str, Any] = {
    "route": {"receiver": "null", "group_wait": "1s", "group_interval": "1s"},
    "receivers": [{"name": "null"}],
}


class Alertmanager(Service):
    """One Alertmanager node; clustered when `cluster=True` (peers may be given)."""

    name = "alertmanager"
    movable_port = True
    binary = "alertmanager"

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any] | str | Path | None = None,
        cluster: bool = False,
        peers: Iterable[str] = (),
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(workdir)
        self.config_source = config if config is not None else MINIMAL_AM_CONFIG
        self.cluster = cluster
        self.peers = list(peers)
        self.cluster_port = free_port() if cluster else 0
        self.extra_args = list(extra_args)
        self.config_path = self.workdir / "alertmanager.yml"

    def fresh_ports(self) -> bool:
        """Not in a cluster: its peers know its gossip port."""
        return not self.cluster and super().fresh_ports()

    @property
    def cluster_address(self) -> str:
        """host:port of the gossip listener."""
        return f"127.0.0.1:{self.cluster_port}"

    def prepare(self) -> None:
        """Write alertmanager.yml (or copy the given file)."""
        src = self.config_source
        if isinstance(src, dict):
            self.config_path.write_text(yaml.safe_dump(src, sort_keys=False))
        elif isinstance(src, Path):
            shutil.copyfile(src, self.config_path)
        else:
            self.config_path.write_text(src)

    def argv(self) -> list[str]:
        """Command line."""
        args = [
            self.exe,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--log.level=info",
        ]
        if self.cluster:
            args += [
                f"--cluster.listen-address={self.cluster_address}",
                f"--cluster.advertise-address={self.cluster_address}",
                "--cluster.gossip-interval=50ms",
                "--cluster.pushpull-interval=1s",
                "--cluster.settle-timeout=1s",
                "--cluster.peer-timeout=1s",
            ]
            args += [f"--cluster.peer={p}" for p in self.peers]
        else:
            args.append("--cluster.listen-address=")
        return args + self.extra_args

    def ready_url(self) -> str:
        """Readiness endpoint."""
        return f"{self.url}/-/ready"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call /api/v2 and return the decoded JSON (or None for an empty body)."""
        status, raw = http(method, f"{self.url}/api/v2/{path}", body)
        if status >= 300:
            raise ServiceError(f"alertmanager {method} {path} -> {status}: {raw!r}")
        return json.loads(raw) if raw.strip() else None


# -- InfluxDB 1.x ------------------------------------------------------------------------------


class InfluxDB(Service):
    """InfluxDB 1.x with loopback binds and temporary meta/data/wal directories."""

    name = "influxdb"
    binary = "influxd"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.rpc_port = free_port()
        self.config_path = self.workdir / "influxdb.conf"

    movable_port = True

    def fresh_ports(self) -> bool:
        """Both its ports are in the config `prepare` writes."""
        self.rpc_port = free_port()
        return super().fresh_ports()

    def prepare(self) -> None:
        """Write influxdb.conf (the same generator `make run` uses)."""
        self.config_path.write_text(influx_config(self.workdir, self.port, self.rpc_port))

    def argv(self) -> list[str]:
        """Command line."""
        return [self.exe, "-config", str(self.config_path)]

    def ready_url(self) -> str:
        """Readiness endpoint (answers 204)."""
        return f"{self.url}/ping"

    def query(
        self,
        q: str,
        db: str | None = None,
        method: str = "GET",
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Run InfluxQL through /query and return the decoded JSON."""
        params = {"q": q}
        if db:
            params["db"] = db
        qs = urllib.parse.urlencode(params)
        status, raw = http(method, f"{self.url}/query?{qs}", headers=headers)
        doc: dict[str, Any] = json.loads(raw)
        if status != 200:
            raise ServiceError(f"influx query {q!r} -> {status}: {doc}")
        for res in doc.get("results", []):
            if "error" in res:
                raise ServiceError(f"influx query {q!r}: {res['error']}")
        return doc

    def create_database(self, db: str) -> None:
        """CREATE DATABASE."""
        self.query(f'CREATE DATABASE "{db}"', method="POST")

    def write(self, db: str, lines: str, precision: str = "ns") -> None:
        """Write line protocol through the 1.x /write API."""
        qs = urllib.parse.urlencode({"db": db, "precision": precision})
        status, raw = http("POST", f"{self.url}/write?{qs}", raw=lines.encode())
        if status != 204:
            raise ServiceError(f"influx write -> {status}: {raw!r}")

    def measurements(self, db: str) -> set[str]:
        """The measurement names of `db` (empty while the database does not exist yet)."""
        try:
            series = self.series("SHOW MEASUREMENTS", db)
        except ServiceError:
            return set()
        return {row[0] for s in series for row in s["values"]}

    def series(self, q: str, db: str) -> list[dict[str, Any]]:
        """Return the `series` list of the first result of an InfluxQL query."""
        doc = self.query(q, db)
        return list(doc["results"][0].get("series", []))


# -- node_exporter ---------------------------------------------------------------------------


class NodeExporter(Service):
    """The reference node_exporter."""

    name = "node_exporter"
    binary = "node_exporter"
    movable_port = True

    def __init__(self, workdir: Path, extra_args: Sequence[str] = ()) -> None:
        super().__init__(workdir)
        self.extra_args = list(extra_args)

    def argv(self) -> list[str]:
        """Command line."""
        return [self.exe, f"--web.listen-address={self.address}", *self.extra_args]

    def ready_url(self) -> str:
        """Readiness endpoint."""
        return f"{self.url}/metrics"
