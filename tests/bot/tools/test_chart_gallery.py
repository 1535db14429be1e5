"""The docs' chart images are what the gallery draws today: regenerated, byte for byte."""

from __future__ import annotations

from pathlib import Path

from bot.domain.charts import CHARTS
from bot.tools.chart_gallery import NO_DATA_FILE, write_gallery

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "images" / "charts"


def test_committed_chart_images_are_up_to_date(tmp_path: Path) -> None:
    """Each committed PNG equals a fresh render of the fixed example data (else: `make docs`)."""
    fresh = {p.name: p.read_bytes() for p in write_gallery(tmp_path)}
    assert set(fresh) == {f"{name}.png" for name in CHARTS} | {NO_DATA_FILE}
    committed = {p.name for p in COMMITTED.glob("*.png")}
    stale = sorted(
        name for name, data in fresh.items()
        if not (COMMITTED / name).exists() or (COMMITTED / name).read_bytes() != data
    )
    extra = sorted(committed - set(fresh))
    assert not stale and not extra, (
        f"docs/images/charts is stale (differs: {stale}, not drawn any more: {extra}):"
        " run `make docs` and commit the images"
    )


def test_the_gallery_is_deterministic(tmp_path: Path) -> None:
    """Two runs of the gallery write the same bytes (fixed seed, fixed times, no metadata)."""
    first = {p.name: p.read_bytes() for p in write_gallery(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in write_gallery(tmp_path / "b")}
    assert first == second


def test_docs_show_every_named_chart() -> None:
    """docs/charts.md embeds the image of every named chart."""
    text = (ROOT / "docs" / "charts.md").read_text()
    for name in CHARTS:
        assert f"images/charts/{name}.png" in text, name
