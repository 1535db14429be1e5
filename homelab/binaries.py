"""Where the service binaries are, under their Debian or upstream names, and how to install them.

Example::

    path = find_binary("alertmanager")   # /usr/bin/prometheus-alertmanager on Debian
"""

from __future__ import annotations

import shutil
from typing import Final

# service -> (Debian package, names the binary goes by)
BINARIES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "prometheus": ("prometheus", ("prometheus",)),
    "promtool": ("prometheus", ("promtool",)),
    "alertmanager": ("prometheus-alertmanager", ("prometheus-alertmanager", "alertmanager")),
    "amtool": ("prometheus-alertmanager", ("amtool",)),
    "influxd": ("influxdb", ("influxd",)),
    "node_exporter": ("prometheus-node-exporter", ("prometheus-node-exporter", "node_exporter")),
    # a test tool: the systemd units under deploy/systemd are checked with it
    "systemd-analyze": ("systemd", ("systemd-analyze",)),
}


class BinaryMissing(RuntimeError):
    """A service binary is not installed; the message says which package brings it."""

    def __init__(self, service: str, package: str, names: tuple[str, ...]) -> None:
        self.service = service
        self.package = package
        super().__init__(
            f"{service} is not installed (looked for {', '.join(names)} on PATH). "
            f"Install the Debian package '{package}': run scripts/install-services, or "
            f"'apt-get install {package}' as root."
        )


def find_binary(service: str) -> str:
    """Return the path of a service binary, or raise BinaryMissing naming its package."""
    package, names = BINARIES[service]
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise BinaryMissing(service, package, names)
