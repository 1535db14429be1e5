"""The host registry's rules: names, addresses (default port, IPv6), clashes, the file_sd form."""

from __future__ import annotations

import pytest

from bot.domain.hosts import (
    HostError,
    HostRegistryError,
    HostTarget,
    add,
    check_address,
    check_host,
    from_file_sd,
    remove,
    to_file_sd,
)


def test_addresses_get_the_exporter_port_and_ipv6_brackets() -> None:
    """host -> host:9101; host:port kept; [v6]:port kept; bare v6 and bad ports refused."""
    assert check_address("nas.lan") == "nas.lan:9101"
    assert check_address("192.168.1.5:9100") == "192.168.1.5:9100"
    assert check_address("[fd00::5]:9101") == "[fd00::5]:9101"
    assert check_address("[fd00::5]") == "[fd00::5]:9101"
    for bad in ("fd00::5", "nas:0", "nas:x", "na s", "[fd00::5", "[nope]:1", "-nas"):
        with pytest.raises(HostError):
            check_address(bad)
    with pytest.raises(HostError, match="host name"):
        check_host("no spaces", "nas")


def test_add_remove_and_round_trip_through_file_sd() -> None:
    """Adding twice is a no-op, a name (any case) or address taken is refused, removal finds
    any case, and the file_sd form reads back the same hosts."""
    nas = check_host("nas", "nas.lan")
    hosts = add(add((), nas), check_host("pi", "pi.lan"))
    assert add(hosts, nas) == hosts
    with pytest.raises(HostError, match="remove it first"):
        add(hosts, check_host("NAS", "other.lan"))
    with pytest.raises(HostError, match="registered as pi"):
        add(hosts, check_host("pi2", "pi.lan"))
    assert from_file_sd(to_file_sd(hosts), "f") == hosts
    left, gone = remove(hosts, "PI")
    assert gone == HostTarget("pi", "pi.lan:9101") and left == (nas,)
    with pytest.raises(HostError, match="no host called"):
        remove(left, "pi")
    with pytest.raises(HostRegistryError, match="not one the bot wrote"):
        from_file_sd([{"targets": ["a:1", "b:2"]}], "f")
