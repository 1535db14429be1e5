"""Open an HTML file in headless Chromium and report what it did: a full-page screenshot, every
network request it made, and every console message, page error and browser log entry.

It speaks the Chrome DevTools protocol over the browser's WebSocket (aiohttp, already a
dependency) rather than `--dump-dom`/`--screenshot`: those say nothing about requests or
errors, and `--enable-logging` output is unstructured and changes between versions. The
protocol's `Network.requestWillBeSent`, `Runtime.consoleAPICalled`, `Runtime.exceptionThrown`
and `Log.entryAdded` events are structured and stable.

Used by the report tests and `make docs` (the report screenshot of docs/reports.md).

Example::

    page = asyncio.run(open_page(Path("report.html")))
    page.png, page.requests, page.errors      # bytes, ['https://...'], ['Refused to load ...']
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

# The flags of a quiet, isolated headless browser: no sandbox (containers, root), no GPU, and
# none of Chromium's own background traffic, which would count as the page's requests.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--hide-scrollbars",
    "--mute-audio",
)
# URL schemes that are not network requests: the page itself and its embedded images.
LOCAL_SCHEMES = ("file:", "data:", "about:")


class BrowserError(Exception):
    """Chromium is missing, did not start, or did not answer."""


def chromium_binary() -> str | None:
    """Debian's `chromium` (or another Chromium/Chrome) on PATH, else None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """What a page did while it loaded."""

    png: bytes = b""
    width: int = 0
    height: int = 0
    requests: list[str] = field(default_factory=list)  # network URLs only (not file:/data:)
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, log errors
    title: str = ""
    text: str = ""


class Browser:
    """One headless Chromium; `open` loads pages one at a time in fresh tabs."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or chromium_binary()
        self._proc: asyncio.subprocess.Process | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, wait_seconds: float = 30.0) -> Browser:
        """Start Chromium with a fresh profile and connect to its DevTools WebSocket."""
        if not self.binary:
            raise BrowserError("Chromium is not installed; run scripts/install-services")
        self._profile = tempfile.TemporaryDirectory(prefix="homelab-chromium-")
        profile = Path(self._profile.name)
        self._proc = await asyncio.create_subprocess_exec(
            self.binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
            "about:blank",
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        port_file = profile / "DevToolsActivePort"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        lines: list[str] = []
        while len(lines) < 2:
            if self._proc.returncode is not None:
                raise BrowserError(f"Chromium exited with {self._proc.returncode} at start")
            if loop.time() > deadline:
                raise BrowserError(f"Chromium did not open DevTools within {wait_seconds:g} s")
            await asyncio.sleep(0.05)
            lines = await asyncio.to_thread(_lines, port_file)
        port, path = lines[:2]
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.create_task(self._read(), name="devtools reader")
        return self

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            doc = json.loads(msg.data)
            fut = self._pending.pop(doc.get("id", -1), None)
            if fut is not None:
                if "error" in doc:
                    fut.set_exception(BrowserError(f"DevTools: {doc['error']}"))
                else:
                    fut.set_result(doc.get("result", {}))
            elif "method" in doc:
                self._events.put_nowait(doc)
        for fut in self._pending.values():
            fut.set_exception(BrowserError("the DevTools connection closed"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str = "",
        wait_seconds: float = 30.0,
    ) -> dict[str, Any]:
        """One DevTools command; its result."""  # fmt: skip
        if self._ws is None:
            raise BrowserError("the browser is not started")
        mid = next(self._ids)
        doc: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            doc["sessionId"] = session
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[mid] = fut
        await self._ws.send_str(json.dumps(doc))
        return await asyncio.wait_for(fut, wait_seconds)

    async def open(
        self, path: Path, width: int = 1280, height: int = 900, wait_seconds: float = 30.0
    ) -> Page:
        """Load `path` in a fresh tab: its screenshot (full page), requests and errors."""
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        sid = (await self.send("Target.attachToTarget",
                               {"targetId": target, "flatten": True}))["sessionId"]  # fmt: skip
        page = Page()
        try:
            for domain in ("Page", "Network", "Runtime", "Log"):
                await self.send(f"{domain}.enable", session=sid)
            await self.send("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1,
                             "mobile": False}, session=sid)  # fmt: skip
            while not self._events.empty():  # what came before this page is not its doing
                self._events.get_nowait()
            url = (await asyncio.to_thread(path.resolve)).as_uri()
            await self.send("Page.navigate", {"url": url}, session=sid)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait_seconds
            loaded = False
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    if loaded:
                        break
                    raise BrowserError(f"{path} did not load within {wait_seconds:g} s")
                try:
                    quiet = min(left, 0.5) if loaded else left
                    ev = await asyncio.wait_for(self._events.get(), quiet)
                except TimeoutError:
                    if loaded:
                        break  # quiet for half a second after load: done
                    continue
                if ev.get("sessionId") != sid:
                    continue
                loaded = loaded or ev["method"] == "Page.loadEventFired"
                _note(page, ev)
            metrics = await self.send("Page.getLayoutMetrics", session=sid)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            page.width, page.height = int(size["width"]), int(size["height"])
            shot = await self.send(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True,
                 "clip": {"x": 0, "y": 0, "width": page.width, "height": page.height,
                          "scale": 1}},
                session=sid,
            )  # fmt: skip
            page.png = base64.b64decode(shot["data"])
            got = await self.send("Runtime.evaluate",
                                  {"expression": "JSON.stringify([document.title, "
                                                 "document.body.innerText])",
                                   "returnByValue": True}, session=sid)  # fmt: skip
            page.title, page.text = json.loads(got["result"]["value"])
        finally:
            with contextlib.suppress(BrowserError, TimeoutError):
                await self.send("Target.closeTarget", {"targetId": target})
        return page

    async def close(self) -> None:
        """Close the connection, end Chromium and remove its profile."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._session is not None:
            await self._session.close()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._profile is not None:
            self._profile.cleanup()

    async def __aenter__(self) -> Browser:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def _note(page: Page, ev: dict[str, Any]) -> None:
    """Record an event that is a request or an error."""
    method, p = ev["method"], ev.get("params", {})
    if method == "Network.requestWillBeSent":
        url = p.get("request", {}).get("url", "")
        if not url.startswith(LOCAL_SCHEMES):
            page.requests.append(url)
    elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
        page.errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                    for a in p.get("args", [])))  # fmt: skip
    elif method == "Runtime.exceptionThrown":
        page.errors.append(p.get("exceptionDetails", {}).get("text", "exception"))
    elif method == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
        page.errors.append(p["entry"].get("text", ""))


async def open_page(path: Path, width: int = 1280) -> Page:
    """Open one page in a browser of its own."""
    async with Browser() as b:
        return await b.open(path, width=width)


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.tools.browser PAGE.html SHOT.png`: screenshot, requests, errors."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bot.tools.browser PAGE.html SHOT.png", file=sys.stderr)
        return 2
    page = asyncio.run(open_page(Path(args[0])))
    Path(args[1]).write_bytes(page.png)
    print(f"{args[1]}: {page.width}x{page.height}, {len(page.requests)} requests, "
          f"{len(page.errors)} errors")  # fmt: skip
    for line in page.requests + page.errors:
        print(f"  {line}")
    return 1 if page.requests or page.errors else 0


if __name__ == "__main__":
    sys.exit(main())
