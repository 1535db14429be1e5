"""The docs' example report (docs/images/reports) is what the renderer and templates make today."""

from __future__ import annotations

from pathlib import Path

from bot.tools.report_gallery import write_gallery

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "images" / "reports"


def test_committed_report_example_is_up_to_date(tmp_path: Path) -> None:
    """The PNGs, the HTML file and the message text equal a fresh run (else: `make docs`)."""
    fresh = {p.name: p.read_bytes() for p in write_gallery(tmp_path)}
    assert len(fresh) == 5
    text = fresh.pop("report-daily.txt").decode().replace(str(tmp_path), "docs/images/reports")
    assert (COMMITTED / "report-daily.txt").read_text() == text
    stale = sorted(n for n, data in fresh.items()
                   if not (COMMITTED / n).exists() or (COMMITTED / n).read_bytes() != data)
    assert not stale, f"docs/images/reports is stale ({stale}): run `make docs` and commit"
    assert (COMMITTED / "report-daily-screenshot.png").stat().st_size > 100_000
