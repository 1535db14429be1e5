"""Start the real `homelab-bot run` as a subprocess: web face on a free loopback port, console
face on a pty this object types into.

Example::

    bot = Bot(tmp_path).start()
    bot.command("whoami")
    ...
    bot.stop()
"""

from __future__ import annotations

import os
import pty
import shutil
import sys
from pathlib import Path
from typing import Any

from tests.harness.exporter import toml_table
from tests.harness.services import Service, ServiceError, free_port


class Bot(Service):
    """`homelab-bot run` without a Discord token.

    The web port comes from HOMELAB_BOT__WEB__PORT; the rest from a settings file in the
    working directory (`settings` are merged over the defaults below). By default the meta
    command class (whoami) allows one command an hour, so a second `whoami` is refused and
    both outcomes of homelab_bot_commands_total exist.
    """

    name = "homelab-bot"

    def __init__(self, workdir: Path, **settings: Any) -> None:
        self.console_fd = -1
        super().__init__(workdir)
        self.config_path = self.workdir / "homelab.toml"
        bucket = {"capacity": 5, "per_seconds": 60}
        self.settings: dict[str, Any] = {
            "database_path": str(self.workdir / "bot.sqlite3"),
            "image_dir": str(self.workdir / "images"),
            "web": {"listen_address": "127.0.0.1"},
            # Never the default 127.0.0.1:9090, which may be another checkout's `make run`.
            "prometheus": {"url": f"http://127.0.0.1:{free_port()}"},
            "rate_limits": {
                "classes": {
                    "meta": {"capacity": 1, "per_seconds": 3600},
                    "query": bucket,
                    "admin": bucket,
                }
            },
            **settings,
        }

    def find_exe(self) -> str:
        """The console script installed beside this interpreter."""
        venv_script = Path(sys.executable).parent / "homelab-bot"
        exe = str(venv_script) if venv_script.exists() else shutil.which("homelab-bot")
        if not exe:
            raise ServiceError("homelab-bot is not installed: run `pip install -e .[dev]`")
        return exe

    def prepare(self) -> None:
        """Write the settings file."""
        self.config_path.write_text(toml_table("bot", self.settings))

    def argv(self) -> list[str]:
        """`homelab-bot --config FILE run`."""
        return [self.exe, "--config", str(self.config_path), "run"]

    def child_env(self) -> dict[str, str]:
        """Inherited environment without HOMELAB_BOT__ overrides, plus the web port."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_BOT__")}
        env["HOMELAB_BOT__WEB__PORT"] = str(self.port)
        return env

    def child_stdin(self) -> int:
        """A pty, so the console face runs its interactive shell."""
        master, slave = pty.openpty()
        self.console_fd = master
        return slave

    def ready_url(self) -> str:
        """Answers 200 once serving."""
        return f"{self.url}/healthz"

    def command(self, line: str) -> None:
        """Type one line at the console face."""
        os.write(self.console_fd, line.encode() + b"\n")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process group and close the terminal."""
        super().stop(timeout)
        if self.console_fd >= 0:
            os.close(self.console_fd)
            self.console_fd = -1
