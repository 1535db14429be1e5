"""The vault's pure rules: secret names and `secret:<name>` references."""

from __future__ import annotations

import pytest

from bot.domain.vault import SecretNameError, check_name, reference


def test_reference_names_the_secret_or_none_for_a_literal() -> None:
    """`secret:<name>` gives the name; any other value is a literal."""
    assert reference("secret:discord-token") == "discord-token"
    assert reference("xoxb-literal") is None
    assert reference("") is None


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "a/b", "ä"])
def test_bad_names_are_refused_saying_what_is_allowed(name: str) -> None:
    """Names that would be awkward in settings, shells or audit rows are refused."""
    with pytest.raises(SecretNameError, match="use 1-64 letters"):
        check_name(name)


def test_plain_names_are_accepted() -> None:
    """Letters, digits, '_', '.' and '-' are fine."""
    assert check_name("audit.key_2-b") == "audit.key_2-b"
