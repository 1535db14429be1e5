"""The webhook receiver: who may post, what is refused and how, and 200 only once stored."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from bot.adapters.outbox import SqliteOutbox
from bot.adapters.sqlite import Database
from bot.interfaces.web.alerts import PATH, AlertReceiver, WebhookAuth
from bot.interfaces.web.server import AlertMetrics, WebServer, build_app
from bot.services.alert_ingest import AlertIngest
from tests.bot.domain.alerts.test_model import PAYLOAD

TOKEN = "canary-7f3a9c2e51d04b8e"


class Served:
    """A receiver on a free loopback port over a real SQLite outbox."""

    def __init__(self, url: str, db: Database, registry: CollectorRegistry, woken: list[int]):
        self.url = url
        self.db = db
        self.registry = registry
        self.woken = woken

    def metric(self, name: str, **labels: str) -> float:
        """A sample of the bot's registry (0 when absent)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    async def rows(self) -> int:
        """Rows in the outbox, read on a connection of their own."""
        other = await Database.open(self.db.path)
        try:
            return int(
                await other.run(
                    lambda c: c.execute("SELECT COUNT(*) FROM alert_outbox").fetchone()[0]
                )
            )
        finally:
            await other.close()


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Factory: `await serve(auth=WebhookAuth(...), ...)` -> Served."""
    servers: list[WebServer] = []
    dbs: list[Database] = []

    async def start(auth: WebhookAuth, **kw: Any) -> Served:
        db = await Database.open(tmp_path / f"bot{len(dbs)}.sqlite3")
        dbs.append(db)
        registry = CollectorRegistry()
        metrics = AlertMetrics(registry)
        woken: list[int] = []
        ingest = AlertIngest(SqliteOutbox(db), metrics, wake=lambda: woken.append(1))
        receiver = AlertReceiver(ingest, auth, metrics, **kw)
        server = WebServer(build_app(registry, dict, receiver.routes()), "127.0.0.1", 0)
        await server.start()
        servers.append(server)
        return Served(f"http://127.0.0.1:{server.port}{PATH}", db, registry, woken)

    yield start
    for s in servers:
        await s.stop()
    for d in dbs:
        await d.close()


def token_file(tmp_path: Path, token: str = TOKEN) -> Path:
    """A credentials file as Alertmanager's credentials_file reads it (newline at the end)."""
    path = tmp_path / "token"
    path.write_text(token + "\n")
    return path


async def post(
    url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], Any]:
    """POST JSON (or raw bytes); (status, body as JSON, headers)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as s, s.post(url, data=data, headers=headers or {}) as r:
        return r.status, json.loads(await r.read() or b"{}"), r.headers


def bearer(token: str = TOKEN) -> dict[str, str]:
    """The header Alertmanager sends with authorization.credentials_file."""
    return {"Authorization": f"Bearer {token}"}


async def test_authorised_notification_is_committed_before_200(serve: Any, tmp_path: Path) -> None:
    """200 only once the rows are in the database (another connection sees them)."""
    s = await serve(WebhookAuth(token_file=token_file(tmp_path)))
    status, body, _ = await post(s.url, PAYLOAD, bearer())
    assert (status, body["stored"], body["duplicates"]) == (200, 1, 0)
    assert await s.rows() == 1
    assert s.woken == [1]
    assert s.metric("homelab_bot_alerts_received_total") == 1


async def test_retries_and_cluster_peers_are_stored_once(serve: Any, tmp_path: Path) -> None:
    """The same notification twice (retry, second node) adds no row and is counted."""
    s = await serve(WebhookAuth(token_file=token_file(tmp_path)))
    await post(s.url, PAYLOAD, bearer())
    status, body, _ = await post(s.url, PAYLOAD, bearer())
    assert (status, body["stored"], body["duplicates"]) == (200, 0, 1)
    assert await s.rows() == 1
    assert s.metric("homelab_bot_alerts_deduplicated_total") == 1


async def test_no_credentials_configured_refuses_with_503_naming_the_setting(serve: Any) -> None:
    """Without credentials the route answers 503 (Alertmanager keeps retrying), saying why."""
    s = await serve(WebhookAuth())
    status, body, _ = await post(s.url, PAYLOAD)
    assert status == 503 and "credentials_file" in body["error"]
    assert await s.rows() == 0


async def test_allow_unauthenticated_must_be_explicit(serve: Any) -> None:
    """allow_unauthenticated = true accepts a post without credentials."""
    s = await serve(WebhookAuth(open_door=True))
    assert (await post(s.url, PAYLOAD))[0] == 200


async def test_wrong_token_is_401_then_429_and_never_logged(
    serve: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures are counted, rate-limited per address with Retry-After, and the presented
    secret appears in no log line and no answer."""
    caplog.set_level(logging.DEBUG)
    s = await serve(WebhookAuth(token_file=token_file(tmp_path)), auth_failures_per_minute=3)
    wrong = "Bearer wrong-" + TOKEN[::-1]
    statuses = []
    for _ in range(5):
        status, body, headers = await post(s.url, PAYLOAD, {"Authorization": wrong})
        statuses.append(status)
        assert TOKEN[::-1] not in json.dumps(body)
    assert statuses == [401, 401, 401, 401, 429]
    assert int(headers["Retry-After"]) >= 1
    # while blocked, even the right token waits: a guesser learns nothing
    assert (await post(s.url, PAYLOAD, bearer()))[0] == 429
    assert s.metric("homelab_bot_webhook_rejected_total", reason="auth") == 4
    assert TOKEN[::-1] not in caplog.text and TOKEN not in caplog.text
    assert await s.rows() == 0


async def test_basic_auth(serve: Any, tmp_path: Path) -> None:
    """username + password_file: the right pair passes, a wrong one is 401."""
    pw = tmp_path / "pw"
    pw.write_text("s3cret-pass\n")
    s = await serve(WebhookAuth(username="am", password_file=pw))

    def basic(user: str, password: str) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }

    assert (await post(s.url, PAYLOAD, basic("am", "s3cret-pass")))[0] == 200
    assert (await post(s.url, PAYLOAD, basic("am", "nope")))[0] == 401
    assert (await post(s.url, PAYLOAD, {"Authorization": "Basic %%%"}))[0] == 401
    assert (await post(s.url, PAYLOAD, bearer("s3cret-pass")))[0] == 401


async def test_rotated_token_file_applies_without_restart(serve: Any, tmp_path: Path) -> None:
    """A new token written to the file is used on the next request."""
    path = token_file(tmp_path, "first-token-0123456789")
    s = await serve(WebhookAuth(token_file=path))
    assert (await post(s.url, PAYLOAD, bearer("first-token-0123456789")))[0] == 200
    path.write_text("second-token-0123456789\n")
    os.utime(path, (1, 1))  # a different mtime even within the same clock tick
    assert (await post(s.url, PAYLOAD, bearer("first-token-0123456789")))[0] == 401
    assert (await post(s.url, PAYLOAD, bearer("second-token-0123456789")))[0] == 200


async def test_oversized_bodies_get_413_declared_or_streamed(serve: Any, tmp_path: Path) -> None:
    """Over max_body_bytes: 413 whether Content-Length says so or a chunked body grows."""
    s = await serve(WebhookAuth(token_file=token_file(tmp_path)), max_body_bytes=1000)
    big = copy.deepcopy(PAYLOAD)
    big["commonAnnotations"] = {"x": "y" * 2000}
    assert (await post(s.url, big, bearer()))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 100

    async with (
        aiohttp.ClientSession() as session,
        session.post(s.url, data=chunks(), headers=bearer()) as r,
    ):
        assert r.status == 413
    assert await s.rows() == 0


async def test_not_json_is_400_and_not_a_payload_is_422_naming_the_field(
    serve: Any, tmp_path: Path
) -> None:
    """Garbage: 400. JSON that is not version 4: 422 with the field."""
    s = await serve(WebhookAuth(token_file=token_file(tmp_path)))
    assert (await post(s.url, b"{not json", bearer()))[0] == 400
    bad = copy.deepcopy(PAYLOAD)
    bad["alerts"][0]["fingerprint"] = "<script>"
    status, body, _ = await post(s.url, bad, bearer())
    assert status == 422 and body["field"] == "alerts[0].fingerprint"
    status, body, _ = await post(s.url, {"version": "3"}, bearer())
    assert status == 422 and body["field"] == "version"


async def test_storage_failure_is_503_so_alertmanager_retries(serve: Any, tmp_path: Path) -> None:
    """When the outbox cannot commit, the answer is 503, never 200 or 4xx."""
    s = await serve(WebhookAuth(token_file=token_file(tmp_path)))
    await s.db.close()
    status, body, _ = await post(s.url, PAYLOAD, bearer())
    assert status == 503 and "retry" in body["error"]


async def test_text_that_is_not_unicode_is_422_not_a_crash(serve: Any, tmp_path: Path) -> None:
    """A lone surrogate (valid JSON, not storable text) can never succeed: 422 naming the
    field, not a 500 from the database; the next notification is stored as usual."""
    s = await serve(WebhookAuth(token_file=token_file(tmp_path)))
    bad = copy.deepcopy(PAYLOAD)
    bad["alerts"][0]["annotations"]["summary"] = "\ud800 CPU busy"
    status, body, _ = await post(s.url, bad, bearer())  # json.dumps escapes it: \ud800
    assert status == 422 and body["field"] == "alerts[0].annotations.summary"
    assert (await post(s.url, PAYLOAD, bearer()))[0] == 200
    assert await s.rows() == 1


async def test_a_header_that_is_not_utf8_is_401_not_a_crash(serve: Any, tmp_path: Path) -> None:
    """Authorization bytes that are not UTF-8 are wrong credentials (401), not a 500."""
    s = await serve(WebhookAuth(token_file=token_file(tmp_path)))
    host, _, rest = s.url.removeprefix("http://").partition("/")
    reader, writer = await asyncio.open_connection(*host.split(":"))
    writer.write(
        b"POST /" + rest.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Authorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n{}"
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:100]


async def test_a_body_that_arrives_in_pieces_is_read_whole(serve: Any, tmp_path: Path) -> None:
    """A notification whose body reaches the server in several TCP pieces is stored, not
    answered 400 (which Alertmanager would never retry) for a half-read body."""
    s = await serve(WebhookAuth(token_file=token_file(tmp_path)))
    body = json.dumps(PAYLOAD).encode()
    host, _, rest = s.url.removeprefix("http://").partition("/")
    reader, writer = await asyncio.open_connection(*host.split(":"))
    writer.write(
        b"POST /" + rest.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:40]
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(body[40:])
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert await s.rows() == 1
