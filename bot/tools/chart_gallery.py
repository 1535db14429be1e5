"""The docs' chart gallery: one PNG per named chart, drawn by the bot's renderer from fixed
example data (a fixed seed and fixed timestamps), so the images are byte-stable and a test can
tell when they are stale.

Example::

    python -m bot.tools.chart_gallery docs/images/charts    # what `make docs` runs
"""

from __future__ import annotations

import logging
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path

from bot.adapters.charts import render_chart
from bot.domain.charts import CHARTS, Chart, ChartDef, Series
from bot.tools.gallery import gallery_main

log = logging.getLogger(__name__)

END = 1796302800.0  # 2026-12-03 13:00 UTC
SPAN = 6 * 3600.0
STEP = 60.0
SEED = 10
HOST = "nas"
SOURCE = "example data (bot/tools/chart_gallery.py)"
NO_DATA_FILE = "no-data.png"

Shape = Callable[..., float]  # (time, rng) -> value; defaults bind loop variables


def _times() -> list[float]:
    return [END - SPAN + STEP * i for i in range(int(SPAN / STEP) + 1)]


def _hours(t: float) -> float:
    """Hours since the start of the range."""
    return (t - (END - SPAN)) / 3600


def _bump(t: float, at: float, width: float, height: float) -> float:
    """A smooth bump of `height` centred `at` hours into the range."""
    return height * math.exp(-(((_hours(t) - at) / width) ** 2))


def _series(
    chart: ChartDef, labels: dict[str, str], shape: Shape, rng: random.Random,
    query: int = 0, gap: tuple[float, float] | None = None,
) -> Series:
    """A series of `shape` over the range, named as the chart's query names it."""
    points = tuple(
        (t, shape(t, rng)) for t in _times()
        if gap is None or not gap[0] <= _hours(t) < gap[1]
    )
    return Series(labels, points, name=chart.prom[query].name_for(labels))


def _noise(rng: random.Random, scale: float) -> float:
    return rng.gauss(0.0, scale)


def example_charts() -> dict[str, Chart]:
    """The gallery's charts, by file name: every named chart on fixed data, and 'no data'."""
    rng = random.Random(SEED)
    c = CHARTS
    modes = {"user": 0.22, "system": 0.07, "nice": 0.02, "irq": 0.004, "softirq": 0.012}
    cpu = tuple(
        _series(c["cpu"], {"mode": m}, lambda t, r, b=b: max(
            0.0, b * (1 + 1.6 * _bump(t, 3.5, 0.35, 1) + 0.15 * math.sin(_hours(t) * 2))
            + _noise(r, b * 0.08)), rng)
        for m, b in modes.items()
    )
    memory = (_series(c["memory"], {}, lambda t, r: 0.58 + 0.05 * _hours(t) / 6
                      + 0.12 * _bump(t, 3.6, 0.4, 1) + _noise(r, 0.003), rng, gap=(1.5, 1.85)),)
    mounts = {"/": 0.41, "/srv/media": 0.83, "/boot": 0.23}
    disk = tuple(
        _series(c["disk"], {"mountpoint": mp}, lambda t, r, b=b, mp=mp: b + (
            0.07 * _hours(t) / 6 if mp == "/srv/media" else 0.0) + _noise(r, 0.0005), rng)
        for mp, b in mounts.items()
    )
    diskio = tuple(
        _series(c["diskio"], {"device": dev}, lambda t, r, s=scale: max(0.0, s * (
            0.05 + 2.5 * _bump(t, 3.5, 0.25, 1)) * (1 + _noise(r, 0.3))), rng, query=q)
        for dev, q, scale in (("sda", 0, 40e6), ("sda", 1, 25e6), ("nvme0n1", 0, 12e6),
                              ("nvme0n1", 1, 55e6))
    )
    network = tuple(
        _series(c["network"], {"device": dev}, lambda t, r, s=scale, at=at: max(0.0, s * (
            0.2 + _bump(t, at, 0.3, 3) + 0.1 * math.sin(_hours(t) * 3)) * (1 + _noise(r, 0.15))),
                rng, query=q)
        for dev, q, scale, at in (("eth0", 0, 90e6, 3.5), ("eth0", 1, 30e6, 5.0),
                                  ("wg0", 0, 6e6, 1.0), ("wg0", 1, 2e6, 1.0))
    )
    load_shape = {0: 0.35, 1: 0.25, 2: 0.18}
    load = tuple(
        _series(c["load"], {}, lambda t, r, q=q, b=b: b + (1.1 - 0.35 * q) * _bump(
            t, 3.5 + 0.08 * q, 0.25 + 0.2 * q, 1) + _noise(r, 0.02 / (q + 1)), rng, query=q)
        for q, b in load_shape.items()
    )
    sensors = (("coretemp", "Package id 0", 52.0), ("coretemp", "Core 0", 49.0),
               ("nvme", "Composite", 41.0))
    temperature = tuple(
        _series(c["temperature"], {"chip_name": chip, "sensor": sensor}, lambda t, r, b=b: (
            b + 24 * _bump(t, 3.5, 0.3, 1) + _noise(r, 0.4)), rng)
        for chip, sensor, b in sensors
    )
    data = {"cpu": cpu, "memory": memory, "disk": disk, "diskio": diskio, "network": network,
            "load": load, "temperature": temperature}
    marks: dict[str, dict[str, object]] = {
        "cpu": {"thresholds": (0.9,)},
        "memory": {"thresholds": (0.9,)},
        "disk": {"thresholds": (0.85,), "windows": ((END - 2.2 * 3600, END),)},
        "load": {"thresholds": (1.0,), "windows": ((END - SPAN + 3.3 * 3600,
                                                   END - SPAN + 3.9 * 3600),)},
        "temperature": {"thresholds": (80.0,)},
    }
    charts = {}
    for name, definition in CHARTS.items():
        extra = marks.get(name, {})
        charts[f"{name}.png"] = Chart(
            title=f"{definition.title} · {HOST}",
            series=data[name],
            start=END - SPAN,
            end=END,
            unit=definition.unit,
            thresholds=extra.get("thresholds", ()),  # type: ignore[arg-type]
            windows=extra.get("windows", ()),  # type: ignore[arg-type]
            source=SOURCE,
            step=STEP,
            minimum=definition.minimum,
            maximum=definition.maximum,
            stacked=definition.stacked,
        )
    charts[NO_DATA_FILE] = Chart(f"Temperature · {HOST}", (), END - SPAN, END,
                                 unit="celsius", source=SOURCE, step=STEP)
    return charts


def write_gallery(out: Path) -> list[Path]:
    """Render every example chart into `out`; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, chart in example_charts().items():
        path = out / name
        path.write_bytes(render_chart(chart))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Write the gallery into the directory given (docs/images/charts by default)."""
    return gallery_main("bot.tools.chart_gallery", "docs/images/charts", write_gallery, argv)


if __name__ == "__main__":
    sys.exit(main())
