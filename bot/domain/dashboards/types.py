"""The registry of dashboard types: the one place a type is added.

Example::

    REGISTRY["fleet"].description   # 'every host up or down with its vital signs, ...'
"""

from __future__ import annotations

import logging

from bot.domain.dashboards.alerts import ALERTS
from bot.domain.dashboards.fleet import FLEET
from bot.domain.dashboards.host import HOST
from bot.domain.dashboards.model import Registry
from bot.domain.dashboards.welcome import WELCOME
from bot.domain.projects.dashboard import PROJECT

log = logging.getLogger(__name__)

REGISTRY = Registry(FLEET, HOST, ALERTS, WELCOME, PROJECT)
