"""docs/projects.md: its console transcripts are what the console prints now (replayed in
order against a fresh bot), its settings block is valid, its images exist, and it covers what
the issue asks of it. `python -m tests.deploy.test_project_docs` rewrites the transcripts from
a real run."""

from __future__ import annotations

import re
import tempfile
import tomllib
from pathlib import Path

from bot.domain.catalogue.projects import COMMANDS
from bot.settings import BotSettings
from tests.deploy.guides import BLOCK, blocks, replay

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "projects.md"


def normalise(text: str) -> str:
    """Days and relative times depend on when the replay runs."""
    text = re.sub(r"\d{4}-\d\d-\d\d", "<date>", text)
    return re.sub(r"\b(in )?\d+[smhd]( ago)?\b", "<when>", text)


def test_the_transcripts_are_what_the_console_prints(tmp_path: Path) -> None:
    """Every `$ homelab-bot do ...` block, replayed in order, prints what is documented."""
    documented = blocks(DOC.read_text())
    assert len(documented) >= 8
    outputs = replay([cmd for cmd, _ in documented], tmp_path)
    for (cmd, expected), actual in zip(documented, outputs, strict=True):
        assert normalise(actual) == normalise(expected), cmd


def test_every_command_and_setting_is_documented(tmp_path: Path) -> None:
    """Each /project and /task command is in the table; the TOML block loads as settings."""
    text = DOC.read_text()
    table = "\n".join(line for line in text.splitlines() if line.startswith("| `/"))
    missing = [c.name for c in COMMANDS if f"`/{c.name}" not in table]
    assert missing == []
    (block,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    settings = BotSettings(database_path=tmp_path / "bot.sqlite3",
                           **tomllib.loads(block)["bot"])  # fmt: skip
    assert settings.projects.timezone == "Europe/Berlin" and settings.projects.digest_hour == 9


def test_the_doc_covers_the_issue_and_its_images_exist() -> None:
    """The model, commands by role, due dates, reminders and digest, alert to task, the
    dashboard with its three images (drawn by the gallery), the report section."""
    text = DOC.read_text()
    for heading in ("## The model", "## Commands", "## Buttons and forms",
                    "## Permissions and the audit log", "## Due dates",
                    "## Reminders and the daily digest", "## From an alert to a task",
                    "## The project dashboard", "## The weekly report"):  # fmt: skip
        assert heading in text, heading
    images = re.findall(r"!\[[^]]*\]\((images/[^)]+)\)", text)
    assert images == [f"images/dashboards/project-{n}.png" for n in
                      ("burndown", "flow", "throughput")]  # fmt: skip
    assert all((DOC.parent / i).is_file() for i in images)


def regenerate() -> None:
    """Rewrite each console block of docs/projects.md with a real run's output."""
    text = DOC.read_text()
    commands = [cmd for cmd, _ in blocks(text)]
    with tempfile.TemporaryDirectory() as tmp:
        outputs = iter(replay(commands, Path(tmp)))
    DOC.write_text(BLOCK.sub(lambda m: f"```console\n$ {m.group(1)}\n{next(outputs)}```", text))


if __name__ == "__main__":
    regenerate()
