"""Command line of homelab-bot: run the bot, use it from the console, check the audit log."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.settings import BotSettings
from homelab.cli import HelpFormatter, base_parser, check_config, load_or_exit, settings_epilog
from homelab.logs import configure
from homelab.settings import ConfigError, resolve_config_path, secrets_of

log = logging.getLogger(__name__)
# What `restore` reads from the vault: the audit key (the restored chain is checked with it)
# and the backup passphrase. Every other `secret:` setting comes back with the database.
RESTORE_SECRETS = frozenset({"bot.audit.key", "bot.backup.encryption_key"})


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for --help)."""
    parser = base_parser(
        "homelab-bot",
        "Homelab monitoring and alerting in Discord; a console face runs without a token.",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("check-config", help="print the effective settings, secrets masked")
    sub.add_parser(
        "run",
        help="run the bot: Discord with a token, else the console face; the web face always",
    )
    do = sub.add_parser(
        "do",
        help="run one bot command from the console, e.g. 'do status --host nas'; 'do help' "
        "lists them",
        description="Run one bot command as the local owner. Exit codes: 0 ok, 1 failed "
        "(e.g. a tampered audit log), 2 bad usage or refused, 3 not found (e.g. an unknown "
        "host), 4 a service it needs is unavailable (e.g. Prometheus, or Discord for sync).",
        epilog=settings_epilog(),
        formatter_class=HelpFormatter,
    )
    do.add_argument(
        "--json", action="store_true", help="print the answer as one JSON object (for scripts)"
    )
    do.add_argument("words", nargs=argparse.REMAINDER, help="the command and its arguments")
    audit = sub.add_parser("audit", help="the audit log (the same as 'do audit ...')")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="{tail,verify}")
    verify = audit_sub.add_parser(
        "verify",
        help="check the hash chain: exit 0 intact, 1 tampered (each broken row named), "
        "2 not checked (refused, database unreadable)",
    )
    verify.add_argument("--json", action="store_true", help="print the answer as JSON")
    tail = audit_sub.add_parser("tail", help="the latest entries")
    tail.add_argument("-n", "--count", type=str, default=None, help="how many, 1-50 (default 10)")
    tail.add_argument("--json", action="store_true", help="print the answer as JSON")
    sub.add_parser("sync-commands", help="sync slash commands to the configured guilds and exit")
    from bot.interfaces.console import vault

    vault.add_parsers(sub)
    from bot.interfaces.console import backup

    backup.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(BotSettings, args.config)
    if args.command is None:
        # A service manager starting the bare command must see a failure, not a quiet exit 0.
        build_parser().print_help(sys.stderr)
        print(
            "homelab-bot: error: name a command; to run the bot: homelab-bot run", file=sys.stderr
        )
        return 2
    if args.command in ("secrets", "keys"):
        # Unresolved: the vault's own commands must run while a referenced secret is missing.
        from bot.interfaces.console import vault

        raw = load_or_exit(BotSettings, args.config, resolve_secrets=False)
        configure(raw.log_level, secrets=secrets_of(raw))
        return vault.main(args, raw)
    if args.command == "restore":
        # Only the two keys it needs: on a new machine the vault holds just those until the
        # restored database brings back the rest.
        settings = load_or_exit(BotSettings, args.config, resolve_secrets=False)
        problems = settings.resolve(only=RESTORE_SECRETS)
        if problems:
            print(f"error: {ConfigError(problems, resolve_config_path(args.config))}",
                  file=sys.stderr)  # fmt: skip
            return 2
    else:
        settings = load_or_exit(BotSettings, args.config)
    key = settings.audit.secret().decode()
    configure(
        settings.log_level,
        secrets=[*secrets_of(settings), *settings.webhook_tokens(), *([key] if key else [])],
    )
    if args.command in ("backup", "restore"):
        # Not through the runtime: restore must find the database closed by this process too.
        from bot.interfaces.console import backup

        return backup.main(args, settings)
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: BotSettings) -> int:
    from bot.adapters.sqlite import StorageError
    from bot.interfaces.console.face import Console
    from bot.interfaces.runtime import Runtime

    try:
        runtime = await Runtime.build(settings)
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    async with runtime:
        as_json = bool(getattr(args, "json", False))
        console = Console(runtime.core, settings.image_dir, as_json=as_json)
        if args.command == "do":
            return await _do(console, list(args.words))
        if args.command == "audit":
            if args.audit_command == "tail":
                words = ["audit", "tail", *(["-n", args.count] if args.count is not None else [])]
                return await _do(console, words)
            return await _audit_verify(console)
        if args.command == "sync-commands":
            return await _sync_commands(runtime)
        if args.command == "run":
            return await run(runtime, console)
    return 2


async def _do(console: Any, words: list[str]) -> int:
    """Run one console command; its exit code follows its outcome (see `do --help`)."""
    from bot.interfaces.console.face import UsageError, exit_code, help_text, parse_line

    if "--json" in words:
        words.remove("--json")
        console.as_json = True
    try:
        if words[:1] == ["help"]:
            print(help_text(" ".join(words[1:])))
            return 0
        name, kwargs = parse_line(words)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return int(exit_code(await console.run(name, kwargs)))


async def _audit_verify(console: Any) -> int:
    """Exit 0 when the chain is intact, 1 when it was tampered with, 2 when it was not checked.

    Not checked: refused (rate limit, or the audit log cannot be written to record the check)
    or the database could not be read.
    """
    try:
        msg = await console.run("audit verify", {})
    except Exception as exc:  # any failure means "not checked": exit 2
        print(f"error: cannot check the audit log: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if msg.outcome == "ok":
        return 0
    if msg.outcome == "failed":
        return 1
    print("error: the audit log was not checked (see the message above)", file=sys.stderr)
    return 2


async def _sync_commands(runtime: Any) -> int:
    """Log in, sync, print one line per guild (or global); exit 2 on a refused token, 1 else."""
    import discord

    from bot.interfaces.discord.client import HomelabBot, SyncError, explain

    token = runtime.settings.discord.token.get_secret_value()
    if not token:
        print(
            "error: no Discord token: set [bot.discord] token or HOMELAB_BOT__DISCORD__TOKEN",
            file=sys.stderr,
        )
        return 2
    bot = HomelabBot(runtime.settings, runtime.core, sync_on_start=False)
    try:
        async with bot:
            await bot.login(token)  # runs setup_hook: extensions load, no sync yet
            print(await bot.sync_commands())
    except SyncError as exc:
        for line in exc.synced:
            print(line)
        for line in exc.failed:
            print(f"error: {line}", file=sys.stderr)
        return 2 if exc.token_refused else 1
    except (discord.LoginFailure, discord.HTTPException, OSError) as exc:
        print(f"error: {explain(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, discord.LoginFailure) else 1
    return 0


async def _every(seconds: float, what: str, step: Callable[[], Awaitable[object]]) -> None:
    """`step()` now and every `seconds`; a failure is logged and the next round tries again."""
    while True:
        try:
            await step()
        except Exception:
            log.exception("%s failed; the next round tries again", what)
        await asyncio.sleep(seconds)


async def _console_dashboards(runtime: Any, console_target: Any) -> None:
    """Live dashboards printed on the console face, refreshed as on Discord (every tick)."""
    from bot.domain.dashboards.live import TICK_SECONDS
    from bot.services.dashboards import DashboardService

    service = runtime.core.feature(DashboardService)
    if service is None:
        return
    service.attach(lambda _channel_id: console_target)
    await _every(TICK_SECONDS, "the dashboard refresh", lambda: service.tick(time.time()))


async def _console_notices(runtime: Any, console_target: Any) -> None:
    """Task reminders and the overdue digest printed on the console face, as the Discord face's
    projects cog sends them (the same service round, the same claims: each once)."""
    from bot.services.projects import NOTICE_SECONDS, ProjectService

    service = runtime.core.feature(ProjectService)
    if service is None:
        return
    hour = runtime.settings.projects.digest_hour
    await _every(NOTICE_SECONDS, "task reminders or the digest",
                 lambda: service.notices(console_target, hour))  # fmt: skip


async def run(runtime: Any, console: Any) -> int:
    """Serve the web face, and Discord (token) or the console; stop cleanly on SIGTERM/SIGINT."""
    from bot.domain.alerts.routing import Destination
    from bot.interfaces.alert_targets import AlertTargets
    from bot.interfaces.web.alerts import AlertReceiver, ReceiverConfigError, WebhookAuth
    from bot.interfaces.web.server import WebServer, build_app
    from bot.services.delivery import DeliveryWorker

    # Work handed to threads (SQLite, message building) holds the GIL for up to the switch
    # interval at a time; 1 ms instead of 5 gives the event loop, which answers Alertmanager,
    # the GIL back sooner while a burst is delivered.
    sys.setswitchinterval(0.001)
    settings: BotSettings = runtime.settings
    a = settings.alerts
    try:
        auth = WebhookAuth.from_settings(a)
    except ReceiverConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if auth.problem:
        log.error("%s; until then Alertmanager's posts get 503 and are retried", auth.problem)
    receiver = AlertReceiver(
        runtime.ingest,
        auth,
        runtime.alert_metrics,
        max_body_bytes=a.max_body_bytes,
        auth_failures_per_minute=a.auth_failures_per_minute,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    web = WebServer(
        build_app(runtime.registry, runtime.health, receiver.routes()),
        settings.web.listen_address,
        settings.web.port,
    )
    try:
        await web.start()
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(runtime.report_audit_head(), name="audit head")
    ]
    token = settings.discord.token.get_secret_value()
    bot = None
    targets: AlertTargets | None = None
    try:
        if token:
            from bot.interfaces.discord.client import HomelabBot

            bot = HomelabBot(settings, runtime.core)
        targets = AlertTargets(settings, bot=bot)
        worker = DeliveryWorker(
            runtime.outbox,
            targets,
            runtime.alert_routing(),
            runtime.alert_metrics,
            graphs=runtime.grapher,
            admin_target=targets.admin(),
            retry_base=a.retry_base_seconds,
            retry_max=a.retry_max_seconds,
            wakeup=runtime.alerts_waiting,
        )
        tasks.append(asyncio.create_task(runtime.charts.start(), name="chart pool"))
        tasks.append(asyncio.create_task(worker.run(), name="alert delivery"))
        channel = settings.reports.channel_id or a.default_channel_id
        runtime.schedule_reports(targets(Destination(channel_id=channel)))
        runtime.start_scheduler()  # the backup job too; one start of the one scheduler
        if bot is not None:  # its projects cog sends the task reminders and the digest
            tasks.append(asyncio.create_task(bot.start(token), name="discord"))
            log.info("Discord face starting")
        else:
            log.info(
                "no Discord token set, so the console face runs (web %s:%d)", web.host, web.port
            )
            tasks.append(asyncio.create_task(_console_dashboards(runtime, targets.console),
                                             name="dashboards"))  # fmt: skip
            tasks.append(asyncio.create_task(_console_notices(runtime, targets.console),
                                             name="task notices"))  # fmt: skip
            if sys.stdin.isatty():
                tasks.append(asyncio.create_task(console.shell(), name="console"))
        waiter = asyncio.create_task(stop.wait(), name="stop")
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        while done and all(t.get_name() == "chart pool" and not t.exception() for t in done):
            tasks = [t for t in tasks if t not in done]  # warmed up: not a reason to stop
            done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            failure = None if t is waiter or t.cancelled() else t.exception()
            if failure is not None:
                if t.get_name() == "discord":
                    from bot.interfaces.discord.client import explain

                    log.error("the Discord face stopped: %s", explain(failure))
                else:
                    log.error("%s stopped: %s", t.get_name(), failure)
                return 1
        waiter.cancel()
        return 0
    finally:
        log.info("shutting down")
        # Stop the gateway reader first: closing while it waits makes discord.py close with
        # 4000 (a resumable drop, the bot stays shown online) instead of 1000 (a log-out).
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if bot is not None:
            await bot.close()
        if targets is not None:
            await targets.close()
        await web.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
