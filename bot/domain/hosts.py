"""The hosts Prometheus scrapes, as the bot keeps them: a file_sd file, one target per host.

Each host is one target group `{targets: [address], labels: {host: name}}`; the `host` label
is the name /status and the alerts show (docs/bot.md). Prometheus watches file_sd files and
applies a change within seconds, without a reload; the file is written whole and renamed
into place, so it never reads half of one.

Example::

    hosts = add((), check_host("nas", "192.168.1.5"))   # port 9101 added
    to_file_sd(hosts)  # [{'targets': ['192.168.1.5:9101'], 'labels': {'host': 'nas'}}]
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.messages import Embed, Field, Message

log = logging.getLogger(__name__)

EXPORTER_PORT = 9101
HOST_LABEL = "host"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


class HostError(ValueError):
    """A host name or address is not acceptable, or clashes with one registered."""


class HostRegistryError(Exception):
    """The file_sd file cannot be read or written; the message names it."""


@dataclass(frozen=True, slots=True)
class HostTarget:
    """One registered host: its name (the `host` label) and its address (host:port)."""

    name: str
    address: str


def check_host(name: str, address: str) -> HostTarget:
    """A HostTarget from what a user typed; the port defaults to the exporter's 9101."""
    if not _NAME.fullmatch(name):
        raise HostError(
            f"host name {name!r}: use letters, digits, '.', '_' or '-' (at most 63, starting "
            "with a letter or digit)"
        )
    return HostTarget(name, check_address(address))


def check_address(address: str) -> str:
    """`address` as host:port (IPv6 in brackets), the port 9101 when none is given."""
    a = address.strip()
    host, port = a, str(EXPORTER_PORT)
    if a.startswith("["):
        end = a.find("]")
        if end < 0:
            raise HostError(f"address {address!r}: an IPv6 address ends with ']'")
        host, rest = a[1:end], a[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise HostError(f"address {address!r}: expected ':PORT' after ']'")
            port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise HostError(f"address {address!r}: {host!r} is not an IPv6 address") from None
        host = f"[{host}]"
    else:
        if a.count(":") == 1:
            host, port = a.split(":")
        elif ":" in a:
            raise HostError(f"address {address!r}: write an IPv6 address as [ADDR]:PORT")
        if not _HOSTNAME.fullmatch(host):
            raise HostError(f"address {address!r}: {host!r} is not a host name or IP address")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise HostError(f"address {address!r}: the port must be a number from 1 to 65535")
    return f"{host}:{int(port)}"


def add(hosts: Sequence[HostTarget], new: HostTarget) -> tuple[HostTarget, ...]:
    """`hosts` with `new`; HostError when its name or address is registered otherwise.

    Adding a host exactly as registered changes nothing (the same tuple back).
    """
    for h in hosts:
        if h == new:
            return tuple(hosts)
        if h.name.casefold() == new.name.casefold():
            raise HostError(f"{h.name} is registered at {h.address}; remove it first to move it")
        if h.address == new.address:
            raise HostError(f"{new.address} is registered as {h.name}")
    return tuple(sorted((*hosts, new), key=lambda h: h.name.casefold()))


def remove(hosts: Sequence[HostTarget], name: str) -> tuple[tuple[HostTarget, ...], HostTarget]:
    """`hosts` without the one called `name` (any case), and that one; HostError if none."""
    for h in hosts:
        if h.name.casefold() == name.casefold():
            return tuple(x for x in hosts if x is not h), h
    raise HostError(f"no host called {name!r} is registered (/host list shows them)")


def to_file_sd(hosts: Sequence[HostTarget]) -> list[dict[str, Any]]:
    """The file_sd document: one target group per host."""
    return [{"targets": [h.address], "labels": {HOST_LABEL: h.name}} for h in hosts]


def from_file_sd(doc: Any, where: str) -> tuple[HostTarget, ...]:
    """The hosts of a file_sd document this module wrote; HostRegistryError otherwise."""
    if doc is None:
        return ()
    if not isinstance(doc, list):
        raise HostRegistryError(f"{where}: not a file_sd list of target groups")
    hosts = []
    for i, group in enumerate(doc):
        try:
            (address,) = group["targets"]
            name = group["labels"][HOST_LABEL]
            hosts.append(check_host(str(name), str(address)))
        except (KeyError, TypeError, ValueError) as exc:
            raise HostRegistryError(
                f"{where}: target group {i + 1} is not one the bot wrote ({exc}); fix or move "
                "the file (hosts of your own go in another file_sd file)"
            ) from None
    return tuple(hosts)


def list_message(hosts: Sequence[HostTarget], path: str) -> Message:
    """/host list."""
    if not hosts:
        return Message(text=f"No hosts registered by the bot (file_sd file {path}).",
                       ephemeral=True)  # fmt: skip
    fields = tuple(Field(h.name, h.address, inline=True) for h in hosts[:25])
    more = f" ({len(hosts) - 25} more not shown)" if len(hosts) > 25 else ""
    embed = Embed(title=f"{len(hosts)} registered hosts{more}", description=path, fields=fields)
    return Message(embeds=(embed,), ephemeral=True)


def added_message(host: HostTarget, changed: bool, path: str) -> Message:
    """/host add."""
    if not changed:
        return Message(text=f"{host.name} ({host.address}) was registered already.",
                       ephemeral=True)  # fmt: skip
    return Message(
        text=f"Registered {host.name} at {host.address} in {path}: Prometheus scrapes it "
        "within a few seconds (no reload needed).",
        ephemeral=True,
    )


def removed_message(host: HostTarget, path: str) -> Message:
    """/host remove."""
    return Message(
        text=f"Removed {host.name} ({host.address}) from {path}: Prometheus stops scraping it "
        "within a few seconds.",
        ephemeral=True,
    )
