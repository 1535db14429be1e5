"""What the serving process leaves out of its imports (resident memory: 1.5x node_exporter).

Two imports cost far more resident memory than the exporter uses of them (measured on the bench
host, Python 3.11, prometheus_client 0.26):

- prometheus_client's package `__init__` imports the library's HTTP servers, WSGI and ASGI apps
  and push-gateway client (`http.server`, `wsgiref`, `urllib.request`, `ssl`): about 2.9 MB.
  `/metrics` uses only its data model, `registry`, `metrics_core` and `samples`, which import
  nothing but the standard library. `data_model()` imports those modules alone; the package's
  `__init__` runs, completing the package, the first time any other name is read from it, so
  `from prometheus_client import generate_latest` keeps working in the same process.
- `ssl` loads OpenSSL's libssl and libcrypto: about 4.4 MB. asyncio and http.client import it
  whenever it exists. `without_ssl(config)` hides it while the serving modules are imported,
  unless the configuration can need TLS: a web config file (its TLS section can appear on a
  SIGHUP reload) or an https InfluxDB URL. Without either nothing in the process speaks TLS.

Both are done in `exporter.serve` before the rest of the exporter is imported; a process that
already imported prometheus_client or ssl (a test, `HOMELAB_EXPORTER_NO_REEXEC=1`) is left as
it is.

Example::

    with without_ssl(config):
        data_model()
        from exporter.app import run_config
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from exporter.config import RuntimeConfig

PACKAGE = "prometheus_client"
DATA_MODEL = ("prometheus_client.samples", "prometheus_client.metrics_core",
              "prometheus_client.registry")  # fmt: skip
TLS_MODULES = ("ssl", "_ssl")


def needs_tls(config: RuntimeConfig) -> bool:
    """True when the configuration can make the process speak TLS (serve or write)."""
    if config.web_config_file:
        return True
    return config.influx.enabled and config.influx.url.lower().startswith("https:")


@contextmanager
def without_ssl(config: RuntimeConfig) -> Iterator[None]:
    """Hide `ssl` from the imports made inside, when `config` cannot need TLS.

    asyncio and http.client then bind `ssl` to None (they are written for a Python without it);
    an import of ssl after the block works as usual.
    """
    if needs_tls(config) or any(name in sys.modules for name in TLS_MODULES):
        yield
        return
    for name in TLS_MODULES:
        sys.modules[name] = None  # type: ignore[assignment]  # the documented import block
    try:
        yield
    finally:
        for name in TLS_MODULES:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def data_model() -> None:
    """Import prometheus_client's registry, metric families and samples without its `__init__`.

    Falls back to the whole package if those modules ever need it.
    """
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        importlib.import_module(PACKAGE)  # raises the usual ImportError
        return
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(name: str) -> Any:
        # PEP 562: called for names the package does not have yet; run its real __init__
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        return getattr(package, name)

    package.__dict__["__getattr__"] = complete
    sys.modules[PACKAGE] = package
    try:
        for name in DATA_MODEL:
            importlib.import_module(name)
    except ImportError:
        _forget(PACKAGE)
        importlib.import_module(PACKAGE)


def _forget(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
