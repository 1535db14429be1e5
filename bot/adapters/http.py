"""What the bot's HTTP clients share: one lazily opened aiohttp session with a total timeout
and fixed headers, closed with the client, and URLs shown without their credentials.

Example::

    class Client(SessionClient):
        def __init__(self, url: str) -> None:
            super().__init__(timeout=2.5, headers={"Accept": "application/json"})
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import aiohttp

log = logging.getLogger(__name__)


def without_userinfo(url: str, *, keep_query: bool = True) -> str:
    """`url` without `user:password@` (IPv6 hosts keep their brackets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query if keep_query else "", ""))


class SessionClient:
    """Owns one aiohttp session, opened on first use, with `timeout` and `_headers`."""

    def __init__(self, timeout: float, headers: dict[str, str] | None = None) -> None:
        self.timeout = timeout
        self._headers: dict[str, str] = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout), headers=self._headers
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
