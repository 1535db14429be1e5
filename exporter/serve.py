"""`python -m exporter.serve --config-fd N`: the lean serving process (see exporter/config.py).

The exporter's modules are imported only once the configuration is read, inside
`exporter.leanimport`'s guards: prometheus_client's data model without its HTTP servers, and no
`ssl` unless the configuration can need TLS.
"""

from __future__ import annotations

import argparse
import logging
import os

from exporter.config import RuntimeConfig
from exporter.leanimport import data_model, without_ssl
from homelab import logs

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Read the validated configuration from a file descriptor and serve."""
    parser = argparse.ArgumentParser(prog="python -m exporter.serve")
    parser.add_argument("--config-fd", type=int, required=True)
    args = parser.parse_args(argv)
    chunks = []
    while chunk := os.read(args.config_fd, 65536):
        chunks.append(chunk)
    os.close(args.config_fd)
    config = RuntimeConfig.from_json(b"".join(chunks).decode())
    logs.configure(config.log_level, secrets=config.secrets())
    with without_ssl(config):
        data_model()
        from exporter.app import run_config

        if config.influx.enabled:
            import exporter.influx  # noqa: F401 - its http.client, under the same guard
    return run_config(config)


if __name__ == "__main__":
    raise SystemExit(main())
