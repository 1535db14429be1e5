"""The frontend-neutral message model, Discord's limits, and the splitter.

Every face renders a `Message`; every message is checked by `validate` before it leaves, and
`split` turns an oversized one into several valid ones without dropping any text.

Example::

    msg = Message(text="hello", embeds=(Embed(title="nas", fields=(Field("CPU", "12 %"),)),),
                  rows=((LinkButton("https://grafana.example/d/nas", "Grafana"),),))
    assert validate(msg) == []
    parts = split(Message(text="x" * 5000))   # three messages of at most 2000 characters
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from enum import Enum

from bot.domain.commands import component, parse_custom_id
from bot.domain.permissions import Role

log = logging.getLogger(__name__)


class Limits:
    """Discord's documented limits (../shared/field-notes.md, 'Discord limits')."""

    CONTENT = 2000
    EMBEDS = 10
    EMBEDS_TOTAL = 6000
    TITLE = 256
    DESCRIPTION = 4096
    FIELDS = 25
    FIELD_NAME = 256
    FIELD_VALUE = 1024
    FOOTER = 2048
    FILE_BYTES = 10 * 1024 * 1024
    FILES = 10
    ROWS = 5
    BUTTONS_PER_ROW = 5
    CUSTOM_ID = 100
    BUTTON_LABEL = 80
    SELECT_OPTIONS = 25
    SELECT_OPTION_TEXT = 100
    # Discord documents 512 characters for a link button's url.
    URL = 512


# A field name must not be empty; continuation fields carry this invisible one.
CONTINUATION = "\u200b"


# How a command ended. ok: answered; usage: bad arguments; refused: the gate said no (role, rate
# limit, audit log unwritable); not_found: the thing named does not exist or is ambiguous;
# unavailable: a service it needs (Prometheus, Alertmanager) could not answer; failed: it ran
# and found a problem (a tampered audit log) or could not complete.
OUTCOMES = ("ok", "usage", "refused", "not_found", "unavailable", "failed")


class MessageError(Exception):
    """A message breaks Discord's rules; `problems` names each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("message breaks Discord limits: " + "; ".join(problems))


class ButtonStyle(Enum):
    """How a button looks."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    SUCCESS = "success"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Field:
    """One name/value pair of an embed."""

    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Embed:
    """A rich block; `image` names an attached `Image` by filename."""

    title: str = ""
    description: str = ""
    fields: tuple[Field, ...] = ()
    colour: int | None = None
    footer: str = ""
    image: str = ""

    def chars(self) -> int:
        """Characters Discord counts towards the 6000 per message."""
        return (
            len(self.title)
            + len(self.description)
            + len(self.footer)
            + sum(len(f.name) + len(f.value) for f in self.fields)
        )

    def is_empty(self) -> bool:
        """True when the embed shows nothing."""
        return not (self.title or self.description or self.fields or self.footer or self.image)


@dataclass(frozen=True, slots=True)
class Image:
    """An attached image (PNG bytes)."""

    filename: str
    data: bytes
    description: str = ""


@dataclass(frozen=True, slots=True)
class Button:
    """A button; `custom_id` routes the click, `permission` is the role a click needs."""

    custom_id: str
    label: str
    permission: Role
    style: ButtonStyle = ButtonStyle.SECONDARY
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class SelectOption:
    """One choice of a select menu."""

    label: str
    value: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Select:
    """A select menu; it fills a whole action row."""

    custom_id: str
    options: tuple[SelectOption, ...]
    permission: Role
    placeholder: str = ""
    min_values: int = 1
    max_values: int = 1


@dataclass(frozen=True, slots=True)
class LinkButton:
    """A button that opens `url` (http or https) in the browser.

    It has no custom id: Discord sends no click to the bot, so it routes to nothing in the
    catalogue and needs no permission. It takes a button's place in a row.
    """

    url: str
    label: str


Component = Button | Select | LinkButton
Row = tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class Message:
    """What the bot says, independent of where it is shown.

    `ping_role_ids` are the only mentions that may notify anyone (and only if the settings
    allow them); `ephemeral` asks for a message only the asker sees (where the face has that).
    `outcome` says how the command ended, for faces that report it (the console's exit code,
    `--json`): one of OUTCOMES.
    """

    text: str = ""
    embeds: tuple[Embed, ...] = ()
    images: tuple[Image, ...] = ()
    rows: tuple[Row, ...] = ()
    ephemeral: bool = False
    ping_role_ids: tuple[int, ...] = ()
    outcome: str = "ok"

    def components(self) -> list[Component]:
        """Every component, row by row."""
        return [c for row in self.rows for c in row]


def validate(msg: Message) -> list[str]:
    """Every way `msg` breaks a Discord limit, as sentences; empty when it is valid."""
    problems: list[str] = []
    if not (msg.text or msg.embeds or msg.images or msg.rows):
        problems.append("message is empty: give it text, an embed, an image or a component")
    if len(msg.text) > Limits.CONTENT:
        problems.append(f"text has {len(msg.text)} characters (limit {Limits.CONTENT})")
    if len(msg.embeds) > Limits.EMBEDS:
        problems.append(f"{len(msg.embeds)} embeds (limit {Limits.EMBEDS})")
    total = sum(e.chars() for e in msg.embeds)
    if total > Limits.EMBEDS_TOTAL:
        problems.append(f"embeds hold {total} characters together (limit {Limits.EMBEDS_TOTAL})")
    filenames = {i.filename for i in msg.images}
    for n, embed in enumerate(msg.embeds, 1):
        problems.extend(f"embed {n}: {p}" for p in _embed_problems(embed, filenames))
    if len(msg.images) > Limits.FILES:
        problems.append(f"{len(msg.images)} images (limit {Limits.FILES})")
    for image in msg.images:
        if len(image.data) > Limits.FILE_BYTES:
            problems.append(
                f"image {image.filename!r} has {len(image.data)} bytes (limit {Limits.FILE_BYTES})"
            )
        if not image.filename:
            problems.append("an image has no filename")
    if len(filenames) != len(msg.images):
        problems.append("two images share a filename")
    problems.extend(_component_problems(msg.rows))
    return problems


def _embed_problems(embed: Embed, filenames: set[str]) -> list[str]:
    out: list[str] = []
    if embed.is_empty():
        out.append("embed is empty")
    for what, text, limit in (
        ("title", embed.title, Limits.TITLE),
        ("description", embed.description, Limits.DESCRIPTION),
        ("footer", embed.footer, Limits.FOOTER),
    ):
        if len(text) > limit:
            out.append(f"{what} has {len(text)} characters (limit {limit})")
    if len(embed.fields) > Limits.FIELDS:
        out.append(f"{len(embed.fields)} fields (limit {Limits.FIELDS})")
    for i, f in enumerate(embed.fields, 1):
        if not f.name or not f.value:
            out.append(f"field {i} has an empty name or value")
        if len(f.name) > Limits.FIELD_NAME:
            out.append(f"field {i} name has {len(f.name)} characters (limit {Limits.FIELD_NAME})")
        if len(f.value) > Limits.FIELD_VALUE:
            out.append(
                f"field {i} value has {len(f.value)} characters (limit {Limits.FIELD_VALUE})"
            )
    if embed.image and embed.image not in filenames:
        out.append(f"image {embed.image!r} is not attached to the message")
    if embed.colour is not None and not 0 <= embed.colour <= 0xFFFFFF:
        out.append(f"colour {embed.colour:#x} is not a 24-bit RGB value")
    return out


def _component_problems(rows: tuple[Row, ...]) -> list[str]:
    out: list[str] = []
    if len(rows) > Limits.ROWS:
        out.append(f"{len(rows)} action rows (limit {Limits.ROWS})")
    seen: set[str] = set()
    for r, row in enumerate(rows, 1):
        if not row:
            out.append(f"row {r} is empty")
        selects = [c for c in row if isinstance(c, Select)]
        if selects and len(row) > 1:
            out.append(f"row {r}: a select menu must be alone in its row")
        if len(row) > Limits.BUTTONS_PER_ROW:
            out.append(f"row {r} has {len(row)} buttons (limit {Limits.BUTTONS_PER_ROW})")
        for c in row:
            if isinstance(c, LinkButton):
                out.extend(_link_problems(c))
                continue
            if not c.custom_id or len(c.custom_id) > Limits.CUSTOM_ID:
                out.append(
                    f"custom_id {c.custom_id[:20]!r}... must have 1 to {Limits.CUSTOM_ID} chars"
                )
            if c.custom_id in seen:
                out.append(f"custom_id {c.custom_id!r} is used twice")
            out.extend(_route_problems(c))
            seen.add(c.custom_id)
            if isinstance(c, Button) and not 0 < len(c.label) <= Limits.BUTTON_LABEL:
                out.append(
                    f"button {c.custom_id!r} label must have 1 to {Limits.BUTTON_LABEL} chars"
                )
            if isinstance(c, Select):
                if not 0 < len(c.options) <= Limits.SELECT_OPTIONS:
                    out.append(f"select {c.custom_id!r} needs 1 to {Limits.SELECT_OPTIONS} options")
                if not 1 <= c.min_values <= c.max_values <= max(len(c.options), 1):
                    out.append(f"select {c.custom_id!r} has impossible min/max values")
                for o in c.options:
                    if not 0 < len(o.label) <= Limits.SELECT_OPTION_TEXT or not (
                        0 < len(o.value) <= Limits.SELECT_OPTION_TEXT
                    ):
                        out.append(f"select {c.custom_id!r} option label/value must have 1 to 100")
    return out


# A scheme and a host, no credentials, no spaces or control characters.
_URL_RE = re.compile(
    r"https?://[^\s\x00-\x1f\x7f/?#@]+(?:[/?#][^\s\x00-\x1f\x7f]*)?", re.IGNORECASE
)


def _link_problems(c: LinkButton) -> list[str]:
    out: list[str] = []
    if not 0 < len(c.label) <= Limits.BUTTON_LABEL:
        out.append(f"link button {c.url[:40]!r} label must have 1 to {Limits.BUTTON_LABEL} chars")
    if len(c.url) > Limits.URL:
        out.append(
            f"link button {c.label[:40]!r} url has {len(c.url)} characters (limit {Limits.URL})"
        )
    elif not _URL_RE.fullmatch(c.url):
        out.append(f"link button {c.label[:40]!r} url {c.url[:40]!r} is not an http(s) URL")
    return out


def is_link_url(url: str) -> bool:
    """Whether `url` can be a link button's target (http or https, at most 512 characters)."""
    return len(url) <= Limits.URL and _URL_RE.fullmatch(url) is not None


def _route_problems(c: Button | Select) -> list[str]:
    """A component must route to a catalogue entry and declare that entry's permission."""
    parsed = parse_custom_id(c.custom_id)
    spec = component(parsed[0]) if parsed else None
    if spec is None:
        return [f"custom_id {c.custom_id[:40]!r} routes to no catalogued component"]
    out = []
    if spec.permission != c.permission:
        out.append(
            f"{c.custom_id[:40]!r} declares {c.permission.label} but its route needs "
            f"{spec.permission.label}"
        )
    if spec.select != isinstance(c, Select):
        out.append(f"{c.custom_id[:40]!r} is the wrong kind of component for its route")
    return out


def ensure_valid(msg: Message) -> Message:
    """Return `msg` unchanged, or raise MessageError naming each broken limit."""
    problems = validate(msg)
    if problems:
        raise MessageError(problems)
    return msg


# -- splitting ------------------------------------------------------------------------------


def chunk_text(text: str, limit: int) -> list[str]:
    """Cut `text` into pieces of at most `limit` characters whose concatenation is `text`.

    Cuts prefer a line break, then a space, in the second half of a piece.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n") + 1
        if cut <= limit // 2:
            cut = window.rfind(" ") + 1
        if cut <= limit // 2:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


class _EmbedPacker:
    """Packs title, description pieces, fields and footer of one embed into valid embeds."""

    def __init__(self, colour: int | None) -> None:
        self.colour = colour
        self.done: list[Embed] = []
        self.cur = Embed(colour=colour)

    def _room(self) -> int:
        return Limits.EMBEDS_TOTAL - self.cur.chars()

    def _flush(self) -> None:
        if not self.cur.is_empty():
            self.done.append(self.cur)
        self.cur = Embed(colour=self.colour)

    def title(self, text: str) -> None:
        self.cur = replace(self.cur, title=text)

    def description(self, text: str) -> None:
        for piece in chunk_text(text, Limits.DESCRIPTION):
            if not piece:
                continue
            fits = len(self.cur.description) + len(piece) <= Limits.DESCRIPTION
            if self.cur.fields or self.cur.footer or not fits or len(piece) > self._room():
                self._flush()
            self.cur = replace(self.cur, description=self.cur.description + piece)

    def field(self, f: Field) -> None:
        if (
            self.cur.footer
            or len(self.cur.fields) >= Limits.FIELDS
            or (len(f.name) + len(f.value) > self._room())
        ):
            self._flush()
        self.cur = replace(self.cur, fields=(*self.cur.fields, f))

    def footer(self, text: str) -> None:
        for piece in chunk_text(text, Limits.FOOTER):
            if self.cur.footer or len(piece) > self._room():
                self._flush()
            self.cur = replace(self.cur, footer=piece)

    def finish(self, image: str) -> list[Embed]:
        if image:
            self.cur = replace(self.cur, image=image)
        self._flush()
        return self.done


def split_embed(embed: Embed) -> list[Embed]:
    """One embed as several that each respect every per-embed limit and the 6000 total."""
    packer = _EmbedPacker(embed.colour)
    title, overflow = embed.title[: Limits.TITLE], embed.title[Limits.TITLE :]
    if title:
        packer.title(title)
    packer.description(overflow + embed.description)
    for f in embed.fields:
        name, name_rest = f.name[: Limits.FIELD_NAME], f.name[Limits.FIELD_NAME :]
        values = chunk_text(name_rest + f.value, Limits.FIELD_VALUE)
        for i, value in enumerate(values):
            if value:
                packer.field(Field(name if i == 0 else CONTINUATION, value, f.inline))
    if embed.footer:
        packer.footer(embed.footer)
    return packer.finish(embed.image)


def split(msg: Message) -> list[Message]:
    """An oversized message as several valid ones, in order, with no text lost.

    Raises MessageError for what cannot be split (an image over 10 MiB, a broken component).
    """
    if not validate(msg):
        return [msg]
    hard = [
        f"image {i.filename!r} has {len(i.data)} bytes (limit {Limits.FILE_BYTES})"
        for i in msg.images
        if len(i.data) > Limits.FILE_BYTES
    ]
    hard += _row_problems_per_row(msg.rows)
    if hard:
        raise MessageError(hard)

    texts = [t for t in chunk_text(msg.text, Limits.CONTENT) if t]
    embeds = [e for embed in msg.embeds for e in split_embed(embed)]
    images_by_name = {i.filename: i for i in msg.images}
    out: list[Message] = []
    for text in texts[:-1]:
        out.append(Message(text=text, ephemeral=msg.ephemeral, outcome=msg.outcome))
    cur_text = texts[-1] if texts else ""
    cur_embeds: list[Embed] = []
    cur_images: list[Image] = []

    def flush() -> None:
        nonlocal cur_text, cur_embeds, cur_images
        if cur_text or cur_embeds or cur_images:
            out.append(
                Message(
                    text=cur_text,
                    embeds=tuple(cur_embeds),
                    images=tuple(cur_images),
                    ephemeral=msg.ephemeral,
                    outcome=msg.outcome,
                )
            )
        cur_text, cur_embeds, cur_images = "", [], []

    used: set[str] = set()
    for embed in embeds:
        image = images_by_name.get(embed.image) if embed.image else None
        if image is not None and image.filename in used:
            image = None  # already attached to an earlier message; Discord cannot share it
            embed = replace(embed, image="")
        too_many = len(cur_embeds) >= Limits.EMBEDS
        too_long = sum(e.chars() for e in cur_embeds) + embed.chars() > Limits.EMBEDS_TOTAL
        too_many_files = image is not None and len(cur_images) >= Limits.FILES
        if too_many or too_long or too_many_files:
            flush()
        cur_embeds.append(embed)
        if image is not None:
            cur_images.append(image)
            used.add(image.filename)
    for image in msg.images:
        if image.filename in used:
            continue
        if len(cur_images) >= Limits.FILES:
            flush()
        cur_images.append(image)
        used.add(image.filename)
    flush()
    rows = list(msg.rows)
    first = True
    while rows:
        batch, rows = tuple(rows[: Limits.ROWS]), rows[Limits.ROWS :]
        if first and out:
            out[-1] = replace(out[-1], rows=batch)
        else:
            out.append(Message(rows=batch, ephemeral=msg.ephemeral, outcome=msg.outcome))
        first = False
    if msg.ping_role_ids and out:
        out[0] = replace(out[0], ping_role_ids=msg.ping_role_ids)
    for part in out:
        ensure_valid(part)
    return out


def _row_problems_per_row(rows: tuple[Row, ...]) -> list[str]:
    """Component problems that splitting rows across messages cannot fix."""
    problems = _component_problems(rows[: Limits.ROWS])
    for start in range(Limits.ROWS, len(rows), Limits.ROWS):
        problems += _component_problems(rows[start : start + Limits.ROWS])
    # duplicate custom ids across the whole message still matter: one click, one route
    ids = [c.custom_id for row in rows for c in row if not isinstance(c, LinkButton)]
    if len(ids) != len(set(ids)):
        problems.append("a custom_id is used twice")
    return list(dict.fromkeys(problems))


def flatten_text(messages: list[Message]) -> str:
    """All text of `messages` in reading order, continuation markers left out (for tests)."""
    parts: list[str] = []
    for m in messages:
        parts.append(m.text)
        for e in m.embeds:
            parts.append(e.title)
            parts.append(e.description)
            for f in e.fields:
                parts.append("" if f.name == CONTINUATION else f.name)
                parts.append(f.value)
            parts.append(e.footer)
    return "".join(parts)
