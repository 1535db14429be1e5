"""The console face: the same commands from a terminal, images written to a folder."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.domain.messages import Embed, Field, Image, LinkButton, Message
from bot.interfaces.console.face import (
    Console,
    UsageError,
    format_message,
    message_json,
    parse_line,
)
from bot.interfaces.runtime import Runtime


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("status", ("status", {"host": None})),
        ("status --host nas", ("status", {"host": "nas"})),
        ("status nas", ("status", {"host": "nas"})),
        ("audit tail -n 5", ("audit tail", {"count": 5})),
        ("audit verify", ("audit verify", {})),
        ("limits reset 42", ("limits reset", {"user": 42})),
    ],
)
def test_parse_line(line: str, parsed: tuple[str, dict[str, object]]) -> None:
    """Console lines map to catalogue commands and their arguments."""
    assert parse_line(line.split()) == parsed


def test_unknown_command_says_what_to_do() -> None:
    """An unknown line is a usage error pointing at 'help'."""
    with pytest.raises(UsageError, match="type 'help'"):
        parse_line(["reboot", "everything"])


def test_format_writes_images_and_prints_plain_text(tmp_path: Path) -> None:
    """Embeds print as text without markdown escapes; images land in the folder."""
    msg = Message(
        embeds=(Embed("nas\\_01", fields=(Field("CPU", "12 %"),), image="cpu.png"),),
        images=(Image("cpu.png", b"\x89PNG-bytes"),),
    )
    text = format_message(msg, tmp_path / "img")
    assert "== nas_01 ==" in text and "CPU: 12 %" in text
    assert (tmp_path / "img" / "cpu.png").read_bytes() == b"\x89PNG-bytes"
    assert f"[image: {tmp_path / 'img' / 'cpu.png'}]" in text


def test_link_buttons_print_with_their_url(tmp_path: Path) -> None:
    """A link button shows its label and URL, in text and in --json."""
    msg = Message(text="t", rows=((LinkButton("https://example.org/rb#cpu", "Runbook"),),))
    assert "[link: Runbook <https://example.org/rb#cpu>]" in format_message(msg, tmp_path)
    doc = json.loads(message_json("x", msg, tmp_path))
    assert doc["links"] == [{"label": "Runbook", "url": "https://example.org/rb#cpu"}]
    assert doc["buttons"] == []


async def test_shell_runs_commands_as_the_local_admin(runtime: Runtime, tmp_path: Path) -> None:
    """The interactive shell answers whoami as admin and audit verify as intact."""
    out = io.StringIO()
    console = Console(runtime.core, tmp_path, out=out)
    await console.shell(io.StringIO("whoami\naudit verify\nbogus\nquit\n"))
    text = out.getvalue()
    assert "console: role admin (bot owner)" in text
    assert "Audit log intact" in text and "unknown command 'bogus'" in text


def test_outside_text_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """A host name carrying escape sequences and control characters prints without them."""
    from bot.domain.status import HostStatus, Target, fleet_message

    evil = "nas\x1b[2J\x1b]0;owned\x07\x1b[31m\r\x08\x9b1m\u202eevil"
    text = format_message(
        fleet_message([HostStatus(Target("x:9100", "node", evil), up=False)]), tmp_path
    )
    assert "nas" in text and "evil" in text and "owned" not in text
    bad = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert bad == [] and "\u202e" not in text, repr(text)
