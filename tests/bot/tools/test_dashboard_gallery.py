"""The docs' dashboard images are what the dashboard gallery draws: regenerated, byte for byte."""

from __future__ import annotations

from pathlib import Path

from bot.tools.dashboard_gallery import write_gallery

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "images" / "dashboards"


def test_committed_chart_images_are_up_to_date(tmp_path: Path) -> None:
    """Each committed PNG equals a fresh render of the fixed example data (else: `make docs`)."""
    fresh = {p.name: p.read_bytes() for p in write_gallery(tmp_path)}
    assert set(fresh) == {"fleet.png", "host.png", "alerts.png", "project-burndown.png",
                          "project-flow.png", "project-throughput.png"}  # fmt: skip
    committed = {p.name for p in COMMITTED.glob("*.png")}
    stale = sorted(
        name for name, data in fresh.items()
        if not (COMMITTED / name).exists() or (COMMITTED / name).read_bytes() != data
    )
    extra = sorted(committed - set(fresh))
    assert not stale and not extra, (
        f"docs/images/dashboards is stale (differs: {stale}, not drawn any more: {extra}):"
        " run `make docs` and commit the images"
    )


def test_the_gallery_is_deterministic(tmp_path: Path) -> None:
    """Two runs of the gallery write the same bytes (fixed seed, fixed times, no metadata)."""
    first = {p.name: p.read_bytes() for p in write_gallery(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in write_gallery(tmp_path / "b")}
    assert first == second
