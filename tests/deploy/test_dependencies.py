"""Every runtime dependency in pyproject.toml earns its place: the code under bot/, exporter/
and homelab/ imports it, runs it as a program, or it is reserved for a named, documented use."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "exporter", "homelab")

# Distribution name (normalised) -> the top-level module it is imported as.
IMPORT_NAMES = {
    "discord-py": "discord",
    "prometheus-client": "prometheus_client",
    "prometheus-api-client": "prometheus_api_client",
    "psutil": "psutil",
    "matplotlib": "matplotlib",
    "tsdownsample": "tsdownsample",
    "influxdb-client": "influxdb_client",
    "jinja2": "jinja2",
    "aiohttp": "aiohttp",
    "pydantic": "pydantic",
    "pydantic-settings": "pydantic_settings",
    "cryptography": "cryptography",
    "pyyaml": "yaml",
    "honcho": "honcho",
    "rich": "rich",
    "apscheduler": "apscheduler",
}

# Dependencies the code runs as a program rather than imports: the source that runs it.
RUN_AS_PROGRAM = {
    "honcho": ("homelab/stack.py", r'"-m",\s*"honcho"'),  # `make run` supervises under honcho
}

# Declared for work that is planned and documented but not built yet; each entry names the
# issue that will use it. An entry must be removed once the code imports the package (the
# test below fails then), and the dependency itself if the plan is dropped.
RESERVED = {
    "jinja2": "issue 11: scheduled reports render from templates (bot/adapters templates)",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> list[str]:
    """The [project].dependencies of pyproject.toml, as normalised distribution names."""
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [
        _normalise(re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0])
        for d in doc["project"]["dependencies"]
    ]


def imported() -> set[str]:
    """Top-level modules imported anywhere under the packages, nested and lazy imports too."""
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found


def test_every_declared_dependency_is_used() -> None:
    """A dependency nobody imports, runs or has reserved (with its issue) fails the build."""
    modules = imported()
    unmapped = [d for d in declared() if d not in IMPORT_NAMES]
    assert unmapped == [], f"add the import name of {unmapped} to IMPORT_NAMES"
    unused = [
        d
        for d in declared()
        if IMPORT_NAMES[d] not in modules and d not in RUN_AS_PROGRAM and d not in RESERVED
    ]
    assert unused == [], f"declared in pyproject.toml but imported nowhere: {unused}"


def test_programs_run_by_the_code_are_still_run() -> None:
    """honcho counts as used only while homelab/stack.py still runs `python -m honcho`."""
    for dist, (path, pattern) in RUN_AS_PROGRAM.items():
        assert dist in declared(), f"{dist} is allowed as a program but no longer declared"
        assert re.search(pattern, (ROOT / path).read_text()), f"{path} no longer runs {dist}"


def test_reserved_dependencies_are_declared_and_still_unused() -> None:
    """A reserved entry goes once its package is imported, or when it is no longer declared."""
    modules = imported()
    for dist in RESERVED:
        assert dist in declared(), f"{dist} is reserved but not declared: remove the entry"
        assert IMPORT_NAMES[dist] not in modules, (
            f"{dist} is imported now: remove it from RESERVED, it earns its place"
        )
