"""The welcome dashboard: the server's own text (from the settings), live counts (members,
hosts up, firing alerts), link buttons, and a rules-accept button that grants a role.

Example::

    data = WelcomeData(text="Welcome to the lab", members=12, hosts_up=3, hosts=4, firing=1,
                       links=(("Grafana", "http://grafana.lan:3000"),), accept_role=True)
    WELCOME.build(Params("welcome"), data, View(dashboard_id=2))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.domain.catalogue import dashboards as part
from bot.domain.dashboards.model import DashboardType, Drawing, Params, View
from bot.domain.dashboards.panels import stat_line
from bot.domain.messages import Button, ButtonStyle, Embed, LinkButton, Message, Row, is_link_url

log = logging.getLogger(__name__)

TEXT_LIMIT = 3500  # of the description's 4096: the counts follow it
LINKS_PER_ROW = 5
BLURPLE = 0x5865F2


@dataclass(frozen=True, slots=True)
class WelcomeData:
    """The settings' text and links, and the counts now (members None: not known here)."""

    text: str = ""
    members: int | None = None
    hosts_up: int = 0
    hosts: int = 0
    firing: int = 0
    links: tuple[tuple[str, str], ...] = ()
    accept_role: bool = False
    title: str = "Welcome"


def welcome_problems(text: str, links: tuple[tuple[str, str], ...]) -> list[str]:
    """What is wrong with the settings' welcome text and links (empty: nothing)."""
    problems = []
    if len(text) > TEXT_LIMIT:
        problems.append(f"the welcome text has {len(text)} characters; at most {TEXT_LIMIT}")
    for label, url in links:
        if not label or len(label) > 80:
            problems.append(f"link label {label!r} must have 1 to 80 characters")
        if not is_link_url(url):
            problems.append(f"link {label!r}: {url!r} is not an http(s) URL")
    if len(links) > 20:
        problems.append(f"{len(links)} links; at most 20")
    return problems


def no_charts(params: Params, data: WelcomeData) -> dict[str, Drawing]:
    """The welcome dashboard draws nothing."""
    return {}


def welcome_dashboard(params: Params, data: WelcomeData, view: View) -> Message:
    """The text, the counts, the links, and the accept button when a role is configured."""
    counts = [
        stat_line("Members", str(data.members)) if data.members is not None else "",
        stat_line("Hosts up", f"{data.hosts_up} of {data.hosts}"),
        stat_line("Alerts firing", str(data.firing)),
    ]
    body = "\n\n".join(p for p in (data.text.strip(), " · ".join(c for c in counts if c)) if p)
    rows: list[Row] = []
    links = [LinkButton(url, label[:80]) for label, url in data.links if is_link_url(url)]
    for i in range(0, min(len(links), 4 * LINKS_PER_ROW), LINKS_PER_ROW):
        rows.append(tuple(links[i : i + LINKS_PER_ROW]))
    if data.accept_role and view.dashboard_id is not None:
        rows.append(
            (
                Button(
                    part.WELCOME_ACCEPT.custom_id(str(view.dashboard_id)),
                    "I accept the rules",
                    part.WELCOME_ACCEPT.permission,
                    ButtonStyle.SUCCESS,
                ),
            )
        )
    return Message(
        embeds=(Embed(title=data.title[:256], description=body[:4096], colour=BLURPLE),),
        rows=tuple(rows[:5]),
    )


WELCOME = DashboardType(
    "welcome",
    "the server's welcome text, live counts, links and a rules-accept button",
    no_charts,
    welcome_dashboard,
)
