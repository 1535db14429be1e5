"""The backup feature's part of the catalogue: /backup now and /backup list (admins).

The archive stays on the bot's disk ([bot.backup] directory); the answer says where and how
big (docs/operations.md).
"""

from __future__ import annotations

import logging

from bot.domain.catalogue.spec import CommandSpec
from bot.domain.permissions import Role

log = logging.getLogger(__name__)

BACKUP_NOW = CommandSpec("backup now", "Take a backup of the bot, Prometheus and InfluxDB",
                         Role.ADMIN, "admin")  # fmt: skip
BACKUP_LIST = CommandSpec("backup list", "Backups on the bot's disk, with their sizes", Role.ADMIN)

COMMANDS = (BACKUP_NOW, BACKUP_LIST)
COMPONENTS = ()
