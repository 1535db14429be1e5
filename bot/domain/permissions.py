"""Roles, the actor who asks, and how Discord role and user ids map to a role.

Example::

    roles = RoleMap(users={42: Role.ADMIN}, roles={7: Role.OPERATOR}, default=Role.VIEWER)
    roles.role_of(Actor(user_id=1, name="ann", role_ids=frozenset({7})))   # Role.OPERATOR
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

log = logging.getLogger(__name__)


class Role(IntEnum):
    """What a user may do; each role includes every lower one."""

    NONE = 0
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """The role's name as users see it."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a Discord user (with the ids of their guild roles) or the local console."""

    user_id: int
    name: str
    role_ids: frozenset[int] = frozenset()
    is_owner: bool = False

    @property
    def key(self) -> str:
        """A stable identifier for rate limits and the audit log."""
        return f"user:{self.user_id}"


@dataclass(frozen=True, slots=True)
class RoleMap:
    """Discord user ids and role ids mapped to roles; owners are always admin."""

    users: Mapping[int, Role] = field(default_factory=dict)
    roles: Mapping[int, Role] = field(default_factory=dict)
    default: Role = Role.VIEWER

    def role_of(self, actor: Actor) -> Role:
        """The highest role any of the actor's grants gives."""
        if actor.is_owner:
            return Role.ADMIN
        best = self.default
        best = max(best, self.users.get(actor.user_id, Role.NONE))
        for role_id in actor.role_ids:
            best = max(best, self.roles.get(role_id, Role.NONE))
        return best


def allows(have: Role, need: Role) -> bool:
    """True when a user holding `have` may do what needs `need`."""
    return have >= need


def refusal_text(need: Role) -> str:
    """The sentence a refused user reads."""
    return (
        f"You need the **{need.label}** role for this. "
        "Ask an admin of this bot to grant it to you or to one of your Discord roles."
    )
