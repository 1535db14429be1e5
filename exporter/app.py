"""The running exporter: sampler, shared collection, HTTP server and InfluxDB writer.

`run(settings)` is what `homelab-exporter run` calls after validating the settings: it hands
the validated values to a lean process (`python -m exporter.serve`, same PID through exec) so
that pydantic's 25 MB stay out of the long-running agent; see exporter/config.py.
`run_config(config)` serves in the current process.

Example::

    run_config(RuntimeConfig(listen_address="127.0.0.1", port=9101))
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from exporter.collection import Collection
from exporter.config import RuntimeConfig, SettingsModel
from exporter.filesystems import MountFilter
from exporter.http import MetricsServer, WebLimits
from exporter.prometheus import Exposition
from exporter.sampling import Sampler
from exporter.webconfig import WebConfigError

log = logging.getLogger(__name__)

NO_REEXEC_ENV = "HOMELAB_EXPORTER_NO_REEXEC"
GC_THRESHOLD = 10_000  # young-generation allocations between cyclic collections (default 700)


def run(settings: SettingsModel) -> int:
    """Serve with validated ExporterSettings (re-executing lean unless told not to).

    `settings` is an `exporter.settings.ExporterSettings`; the annotation is structural so
    that this module, which the lean process imports, never imports pydantic.
    """
    config = RuntimeConfig.from_settings(settings)
    if os.environ.get(NO_REEXEC_ENV, "") not in ("1", "true", "yes"):
        reexec(config)  # returns only if exec failed
    return run_config(config)


def reexec(config: RuntimeConfig) -> None:
    """Replace this process by `python -m exporter.serve`, config passed through a pipe."""
    read_fd, write_fd = os.pipe()
    data = config.to_json().encode()
    if len(data) > 60_000:  # more than a pipe buffer would block: serve in-process instead
        os.close(read_fd)
        os.close(write_fd)
        return
    os.write(write_fd, data)
    os.close(write_fd)
    os.set_inheritable(read_fd, True)
    argv = [sys.executable, "-m", "exporter.serve", "--config-fd", str(read_fd)]
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)  # noqa: S606 - same interpreter, fixed argv
    except OSError as exc:
        log.warning("could not re-execute lean (%s); serving in this process", exc)
        os.close(read_fd)


class Agent:
    """The exporter's parts, started and stopped together."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.sampler = Sampler(
            procfs=Path(config.procfs_path),
            sysfs=Path(config.sysfs_path),
            rootfs=Path(config.rootfs_path),
        )
        self.collection = Collection(
            self.sampler,
            MountFilter(config.filesystem_mount_points_exclude, config.filesystem_fs_types_exclude),
            filesystem_timeout=config.filesystem_timeout_seconds,
            disk_exclude=config.diskstats_device_exclude,
            network_exclude=config.netdev_device_exclude,
            slow_refresh_seconds=config.slow_refresh_seconds,
            textfile_directory=config.textfile_directory,
        )
        self.writer = None
        if config.influx.enabled:
            from exporter.influx import InfluxWriter  # only when enabled: keeps RSS down

            self.writer = InfluxWriter(
                config.influx, config.hostname, self.collection.influx_snapshot
            )
        self.exposition = Exposition(
            self.collection,
            self.writer.stats if self.writer is not None else None,
            host=config.hostname,
        )
        limits = WebLimits(
            max_requests=config.web_max_requests,
            max_connections=config.web_max_connections,
            read_header_timeout=config.web_read_header_timeout_seconds,
            idle_timeout=config.web_idle_timeout_seconds,
        )
        self.server = MetricsServer(
            (config.listen_address, config.port), self.exposition, limits, config.web_config_file
        )
        self._serve: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.server.server_address[1])

    def start(self) -> None:
        """Start background refresh, the writer and the HTTP server."""
        # One render fills the label, header and field-name caches; freezing the heap then
        # keeps every full garbage collection from rescanning those long-lived objects, which
        # with node_exporter's series count took a scrape's p99 from ~12 to ~26 ms.
        self.exposition.render(openmetrics=True)
        gc.freeze()
        # A scrape holds a few thousand samples' tuples at once and frees them all by reference
        # counting; at the default threshold (700) that peak set off a young-generation
        # collection in almost every scrape (70 us each, and an older-generation one every
        # tenth) that found nothing to free. Above the peak, the cyclic collector runs only
        # when objects really accumulate.
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        self.collection.start()
        if self.writer is not None:
            self.writer.start()
        self._serve = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)
        self._serve.start()

    def stop(self) -> None:
        """Stop serving and writing; spooled points stay on disk."""
        self.server.shutdown()
        self.server.server_close()
        if self.writer is not None:
            self.writer.stop()
        self.collection.stop()


def start_failure(config: RuntimeConfig, exc: OSError) -> str:
    """Why the exporter cannot start, naming the setting to change (for the one log line)."""
    from exporter.spool import SpoolError

    if isinstance(exc, SpoolError):
        return str(exc)
    where = f"{config.listen_address}:{config.port}"
    address = (
        "set [exporter] listen_address (HOMELAB_EXPORTER__LISTEN_ADDRESS) to an address of "
        "this host, e.g. 0.0.0.0 or 127.0.0.1"
    )
    port = "set [exporter] port (HOMELAB_EXPORTER__PORT)"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: {exc.strerror or exc}; {address}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is taken; {port} or stop what uses it"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied; {port} to 1024 or above"
    return f"cannot listen on {where}: {exc.strerror or exc}; {port} or {address}"


def raise_fd_limit() -> None:
    """Raise the soft open-files limit to the hard one, as Go programs (node_exporter) do:
    the connection cap, not a low default of 1024, should bound the connections."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.debug("could not raise RLIMIT_NOFILE: %s", exc)


def run_config(config: RuntimeConfig) -> int:
    """Serve until SIGTERM or SIGINT; 0 on a clean stop, 2 when it cannot start (as the bot)."""
    raise_fd_limit()
    try:
        agent = Agent(config)
    except WebConfigError as exc:
        log.error("cannot start: %s; fix it or unset [exporter] web_config_file", exc)
        return 2
    except OSError as exc:
        log.error("cannot start: %s", start_failure(config, exc))
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, lambda _s, _f: threading.Thread(
        target=agent.server.reload_web_config, name="web-config-reload", daemon=True).start())
    agent.start()
    influx = f", writing to InfluxDB {config.influx.url} ({config.influx.api})" if (
        config.influx.enabled
    ) else ""
    log.info(
        "homelab-exporter listening on %s:%d%s", config.listen_address, agent.port, influx
    )
    while not stop.wait(3600):
        pass
    agent.stop()
    return 0
