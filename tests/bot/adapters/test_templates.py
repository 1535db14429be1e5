"""The report templates: the HTML is self-contained and escapes outside text; the Discord
markdown puts tables in code blocks; the example report is a valid message."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.adapters.templates import ReportTemplates
from bot.domain.messages import validate
from bot.domain.reports.model import HostReport, ReportData, period_ending, summarise_alerts
from bot.domain.reports.sections import SectionView, views
from bot.tools.report_gallery import example_message


def test_html_is_self_contained_and_escapes_host_names() -> None:
    """A CSP forbids every request; a host called <script> is text, not markup."""
    period = period_ending("daily", datetime(2026, 12, 3, 8, tzinfo=UTC))
    data = ReportData(period, "", (HostReport("<script>alert(1)</script>", "x:1", 1.0),), (),
                      summarise_alerts([]))  # fmt: skip
    page = ReportTemplates().html(data, views(data))
    assert "default-src 'none'" in page and "img-src data:" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_markdown_tables_are_code_blocks() -> None:
    """Lines first, then the table aligned in a code block."""
    md = ReportTemplates().section_markdown(
        SectionView(lines=("two hosts",), headers=("host", "up"), rows=(("nas", "1"),))
    )
    assert md == "two hosts\n```\nhost  up\nnas   1\n```"


def test_the_example_report_is_a_valid_message_with_its_html_attached() -> None:
    """Header, four sections, three charts; the HTML file embeds the three PNGs."""
    msg = example_message()
    assert validate(msg) == []
    names = [i.filename for i in msg.images]
    assert sum(n.endswith(".png") for n in names) == 3 and names[-1].endswith(".html")
    html = msg.images[-1].data.decode()
    assert html.count("data:image/png;base64,") == 3
    assert [e.title for e in msg.embeds][:5] == [
        "Daily report · all hosts", "Availability", "CPU, memory and disk",
        "Disk fill forecast", "Alerts"]  # fmt: skip


def test_the_docs_new_section_example_draws_in_markdown_and_html() -> None:
    """docs/reports.md's "Writing a new section" code, run as written: the section shows in
    its place, as a table in the Discord markdown and in the HTML file."""
    from pathlib import Path

    from bot.domain.reports import sections

    doc = (Path(__file__).resolve().parents[3] / "docs" / "reports.md").read_text()
    part = doc.split("## Writing a new section", 1)[1]
    code = part.split("```python\n", 1)[1].split("```", 1)[0]
    period = period_ending("daily", datetime(2026, 12, 3, 8, tzinfo=UTC))
    data = ReportData(period, "", (HostReport("nas", "nas:9100", 0.999),), (),
                      summarise_alerts([]))  # fmt: skip
    namespace = {"register": sections.register, "ReportData": ReportData,
                 "SectionView": SectionView, "percent": sections.percent}  # fmt: skip
    exec(compile(code, "docs/reports.md", "exec"), namespace)  # noqa: S102 - our own docs
    try:
        shown = [(s.name, v) for s, v in views(data)]
        assert [n for n, _ in shown][:2] == ["availability", "uptime"]  # order 15: after 10
        view = dict(shown)["uptime"]
        assert view.title == "Uptime" and view.rows == (("nas", "99.9 %"),)
        assert "nas   99.9 %" in ReportTemplates().section_markdown(view)
        page = ReportTemplates().html(data, views(data))
        assert "Uptime" in page and "99.9 %" in page
    finally:
        del sections.SECTIONS["uptime"]
