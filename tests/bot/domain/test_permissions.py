"""Roles from Discord ids: the highest grant wins, owners are admin."""

from __future__ import annotations

from bot.domain.permissions import Actor, Role, RoleMap, allows, refusal_text


def test_highest_grant_wins_and_owner_is_admin() -> None:
    """User grants and role grants combine to the highest; owners are always admin."""
    roles = RoleMap(users={1: Role.OPERATOR}, roles={70: Role.ADMIN}, default=Role.NONE)
    assert roles.role_of(Actor(1, "a")) is Role.OPERATOR
    assert roles.role_of(Actor(1, "a", frozenset({70}))) is Role.ADMIN
    assert roles.role_of(Actor(2, "b")) is Role.NONE
    assert roles.role_of(Actor(2, "b", is_owner=True)) is Role.ADMIN


def test_allows_is_ordered_and_refusal_names_the_role() -> None:
    """A lower role never satisfies a higher need; the refusal names what is needed."""
    assert allows(Role.ADMIN, Role.VIEWER) and not allows(Role.VIEWER, Role.OPERATOR)
    assert "**operator**" in refusal_text(Role.OPERATOR)
