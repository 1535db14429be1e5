"""jinja2 templates of the reports: each section as Discord markdown, the whole as HTML.

The templates are package data (`bot/templates/reports/`). The HTML is self-contained: the
charts are embedded as `data:` URIs, the style is inline, and a Content-Security-Policy
forbids the page any request of its own, so it opens the same offline, from a mail or a
Discord download.

Example::

    t = ReportTemplates()
    md = t.section_markdown(view)            # lines, then the table in a code block
    page = t.html(data, views)               # one HTML document, str
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence

import jinja2

from bot.domain.reports.model import ReportData
from bot.domain.reports.sections import Section, SectionView

log = logging.getLogger(__name__)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(view: SectionView) -> str:
    """The view's table as aligned monospace columns (Discord has no tables)."""
    if not view.rows:
        return ""
    cols = [view.headers, *view.rows]
    widths = [max(len(r[i]) for r in cols if i < len(r)) for i in range(len(view.headers))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in cols
    )


class ReportTemplates:
    """Renders report views with the package's jinja2 templates."""

    def __init__(self) -> None:
        loader = jinja2.PackageLoader("bot", "templates/reports")
        self.html_env = jinja2.Environment(
            loader=loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Markdown for Discord: no HTML escaping; the service escapes outside text itself.
        self.md_env = jinja2.Environment(
            loader=loader,
            autoescape=False,  # noqa: S701 - Discord markdown, not HTML
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.md_env.filters["table"] = _table

    def section_markdown(self, view: SectionView) -> str:
        """One section as Discord markdown: its lines, then its table in a code block."""
        return self.md_env.get_template("section.md.j2").render(view=view).strip()

    def html(self, data: ReportData, views: Sequence[tuple[Section, SectionView]]) -> str:
        """The whole report as one self-contained HTML document."""
        images = {c.filename: (c.title, _data_uri(c.png)) for c in data.charts}
        return self.html_env.get_template("report.html.j2").render(
            data=data, views=views, images=images
        )
