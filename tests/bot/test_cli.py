"""`homelab-bot run` keeps serving until SIGTERM; `do` prints answers; secrets never leak."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

import pytest
from aiohttp import web

from tests.harness.services import free_port, http

CANARY = "canary-Zq8rT3xW9vKp2LmN5bHj"
# A password whose URL-encoded form differs from the raw one.
PASSWORD_CANARY = CANARY + "/+ &=@:"


def _credential_forms(user: str, password: str) -> list[str]:
    """Every form a basic-auth password may leak in: raw, base64 header, URL-encoded."""
    pair = f"{user}:{password}"
    return [
        password,
        base64.b64encode(pair.encode()).decode(),
        quote(pair, safe=""),
        quote(password, safe=""),
        quote_plus(pair),
        quote_plus(password),
    ]


BOT = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def _config(tmp_path: Path, **extra: str) -> Path:
    cfg = tmp_path / "homelab.toml"
    lines = [
        "[bot]",
        f'database_path = "{tmp_path / "bot.sqlite3"}"',
        f'image_dir = "{tmp_path / "img"}"',
        *(f"{k} = {v}" for k, v in extra.items()),
        # A port nothing listens on: never the Prometheus `make run` may have on 9090.
        "[bot.prometheus]",
        f'url = "http://127.0.0.1:{free_port()}"',
    ]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def _env(cfg: Path, **env: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    out.update(HOMELAB_CONFIG=str(cfg), **env)
    return out


def test_run_serves_web_without_a_tty_and_stops_on_sigterm(tmp_path: Path) -> None:
    """Without a token or a TTY, `run` serves /healthz until SIGTERM, then exits 0."""
    port = free_port()
    cfg = _config(tmp_path)
    env = _env(cfg, HOMELAB_BOT__WEB__PORT=str(port))
    proc = subprocess.Popen(
        [*BOT, "run"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        status = 0
        while time.monotonic() < deadline and status != 200:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                status, body = http("GET", f"http://127.0.0.1:{port}/healthz", timeout=1)
            except OSError:
                time.sleep(0.1)
        assert status == 200 and json.loads(body)["status"] == "ok"
        time.sleep(0.5)
        assert proc.poll() is None  # still serving: no shell, no exit
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        out = proc.stdout.read().decode() if proc.stdout else ""
        assert "console face" in out and "shutting down" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
async def echoing_prometheus() -> AsyncIterator[str]:
    """A hostile Prometheus that echoes the credentials it receives, in every encoding."""

    async def handler(request: web.Request) -> web.Response:
        echoed = request.headers.get("Authorization", "")
        scheme, _, token = echoed.partition(" ")
        forms = [echoed, token]
        if scheme == "Basic":
            decoded = base64.b64decode(token).decode()
            forms += [decoded, quote(decoded, safe=""), quote_plus(decoded)]
            forms += [quote(decoded.partition(":")[2], safe="")]
        return web.json_response({"status": "error", "error": f"rejected {forms}"}, status=403)

    app = web.Application()
    app.router.add_route("*", "/api/v1/query", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.mark.parametrize(
    "auth",
    [
        {"HOMELAB_BOT__PROMETHEUS__BEARER_TOKEN": CANARY},
        {
            "HOMELAB_BOT__PROMETHEUS__USERNAME": "ops",
            "HOMELAB_BOT__PROMETHEUS__PASSWORD": PASSWORD_CANARY,
        },
        {"URL_USERINFO": f"ops:{quote(PASSWORD_CANARY, safe='')}"},
    ],
    ids=["bearer", "basic", "basic-in-url"],
)
async def test_canary_secrets_never_reach_any_output(
    tmp_path: Path, echoing_prometheus: str, auth: dict[str, str]
) -> None:
    """At DEBUG, with canary credentials, no output of `do status` holds them in any encoding.

    The basic-auth password is also looked for as base64 of `user:password` (its header) and
    URL-encoded (its form in a URL), which a server may echo and logs may show.
    """
    import asyncio

    cfg = _config(tmp_path, log_level='"DEBUG"')
    auth = dict(auth)
    url = echoing_prometheus
    if "URL_USERINFO" in auth:
        url = url.replace("://", "://" + auth.pop("URL_USERINFO") + "@")
    env = _env(
        cfg,
        HOMELAB_BOT__DISCORD__TOKEN=CANARY + "-discord",
        HOMELAB_BOT__AUDIT__KEY=CANARY + "-audit-key",
        HOMELAB_BOT__PROMETHEUS__URL=url,
        PYTHONASYNCIODEBUG="1",
        **auth,
    )
    leaks = [CANARY, *_credential_forms("ops", PASSWORD_CANARY)]
    assert unquote(quote(PASSWORD_CANARY, safe="")) == PASSWORD_CANARY
    proc = await asyncio.create_subprocess_exec(
        *BOT,
        "do",
        "status",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode() + err.decode()
    assert proc.returncode == 4, text  # Prometheus refused: unavailable
    assert "Status unavailable" in text and "HTTP 403 rejected" in text
    assert "DEBUG" in text  # the run really logged at DEBUG
    assert [form for form in leaks if form in text] == []
    tail = await asyncio.create_subprocess_exec(
        *BOT,
        "audit",
        "tail",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    audit_out, _ = await asyncio.wait_for(tail.communicate(), 30)
    assert tail.returncode == 0 and b"status" not in audit_out  # unprivileged: not audited
    assert [form for form in leaks if form.encode() in audit_out] == []


def test_run_with_a_terminal_opens_the_shell(tmp_path: Path) -> None:
    """With stdin a terminal, `run` offers the shell; 'whoami' answers as the local admin."""
    import pty

    port = free_port()
    env = _env(_config(tmp_path), HOMELAB_BOT__WEB__PORT=str(port))
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*BOT, "run"], env=env, stdin=follower, stdout=follower, stderr=subprocess.DEVNULL
    )
    os.close(follower)
    try:
        seen = _read_until(leader, b"homelab> ")
        os.write(leader, b"whoami\n")
        seen += _read_until(leader, b"(bot owner)")
        os.write(leader, b"quit\n")
        assert proc.wait(10) == 0
        assert b"console: role admin (bot owner)" in seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)


def _read_until(fd: int, needle: bytes, timeout: float = 15) -> bytes:
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        assert left > 0, data
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            data += os.read(fd, 4096)
    return data


def test_sync_commands_without_a_token_says_which_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sync-commands` with no token exits 2 naming the setting and its variable."""
    from bot.cli import main

    monkeypatch.setenv("HOMELAB_CONFIG", str(_config(tmp_path)))
    monkeypatch.delenv("HOMELAB_BOT__DISCORD__TOKEN", raising=False)
    assert main(["sync-commands"]) == 2
    err = capsys.readouterr().err
    assert "[bot.discord] token" in err and "HOMELAB_BOT__DISCORD__TOKEN" in err


def test_bearer_and_basic_auth_together_fail_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting both kinds of Prometheus auth is refused at start, without echoing the secret."""
    from bot.cli import main

    monkeypatch.setenv("HOMELAB_CONFIG", str(_config(tmp_path)))
    monkeypatch.setenv("HOMELAB_BOT__PROMETHEUS__BEARER_TOKEN", CANARY)
    monkeypatch.setenv("HOMELAB_BOT__PROMETHEUS__USERNAME", "ops")
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert "bot.prometheus" in err and "not both" in err and CANARY not in err


async def test_the_console_face_prints_task_reminders_and_the_digest_once(
    tmp_path: Path,
) -> None:
    """Without a token, `run` prints what the Discord face would send: the reminder to each
    assignee of a task due within 24 h and the overdue digest, each once, also after a restart
    (the same claims as on Discord)."""
    import asyncio
    import io

    from bot.cli import _console_notices
    from bot.interfaces.console.alerts import ConsoleAlerts
    from bot.interfaces.runtime import Runtime
    from bot.services.core import CONSOLE_ACTOR
    from bot.services.projects import ProjectService
    from tests.bot.conftest import make_settings

    settings = make_settings(tmp_path, projects={"digest_channel_id": 99, "digest_hour": 0})
    due: list[float] = []

    async def one_round(hours_before_due: float) -> str:
        """A start of the console face's notice loop, its clock that long before the task's
        due time; what it printed."""
        out = io.StringIO()
        async with await Runtime.build(settings) as rt:
            service = rt.core.feature(ProjectService)
            assert service is not None
            if not due:
                await rt.core.execute(CONSOLE_ACTOR, "project create", {"name": "lab"})
                await rt.core.execute(CONSOLE_ACTOR, "task add", {
                    "project": "lab", "title": "Swap the UPS battery", "due": "+2d",
                    "assignee": "42"})  # fmt: skip
                (task,) = await service.store.tasks()
                assert task.due is not None
                due.append(task.due)
            service.clock = lambda: due[0] - hours_before_due * 3600
            loop = asyncio.create_task(_console_notices(rt, ConsoleAlerts(tmp_path, out=out)))
            for _ in range(40):
                await asyncio.sleep(0.05)
                if "---" in out.getvalue():
                    break
            await asyncio.sleep(0.2)
            loop.cancel()
        return out.getvalue()

    said = await one_round(1)
    assert "--- to user 42 ---" in said and "Reminder: task #1" in said, said
    assert "Swap the UPS battery" in said and "in channel" not in said  # not overdue yet
    assert await one_round(0.5) == ""  # a restart half an hour later: reminded once only
    overdue = await one_round(-1)  # the next start, an hour after it was due
    assert "--- in channel 99 ---" in overdue and "1 overdue task" in overdue, overdue
