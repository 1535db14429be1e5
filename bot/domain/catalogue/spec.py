"""What a catalogue entry is: a command with its argument schema, or a kind of component.

One schema per command drives every face: the console parses and prints usage from it, the
Discord face takes its option names, descriptions, bounds and choices from it, and the core
validates every call against it, so the faces cannot drift apart.

Example::

    TAIL = CommandSpec("audit tail", "Latest entries", Role.ADMIN,
                       args=(Arg("count", "int", "how many", default=10, minimum=1, maximum=50,
                                 short="-n"),))
    parse_words(TAIL, ["-n", "5"])      # {'count': 5}
    TAIL.usage()                        # 'audit tail [COUNT]'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.domain.permissions import Role

log = logging.getLogger(__name__)

# Buttons start "hl:", selects "hs:", so each kind has its own click handler.
BUTTON_PREFIX = "hl"
SELECT_PREFIX = "hs"
CUSTOM_ID_RE = re.compile(r"h[ls]:(?P<route>[a-z][a-z0-9_.]*):(?P<arg>.*)", re.DOTALL)

# The largest Discord snowflake: ids are unsigned 64-bit integers.
MAX_SNOWFLAKE = 2**64 - 1

ArgKind = Literal["str", "int", "float", "user", "choice"]


class ArgError(ValueError):
    """An argument is missing, unknown or out of range; `str()` says which and what is allowed."""


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a command: its name (the handler's keyword and the Discord option),
    its kind, and its bounds. `user` is a Discord user id (a snowflake) or, on Discord, a user.
    """

    name: str
    kind: ArgKind = "str"
    help: str = ""
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    short: str = ""  # a console alias such as "-n"

    @property
    def metavar(self) -> str:
        """How usage texts name the value."""
        if self.choices:
            return "|".join(self.choices)
        return {"user": "USER_ID"}.get(self.kind, self.name.upper())

    def convert(self, raw: Any) -> Any:
        """`raw` (a console word or a face's value) as this argument's type, within bounds."""
        if self.kind in ("int", "user"):
            value: Any = _integer(self, raw)
            low = 0 if self.kind == "user" else self.minimum
            high = MAX_SNOWFLAKE if self.kind == "user" else self.maximum
            if self.kind == "user" and value == 0:
                raise ArgError(f"{self.name}: a Discord user id is a positive number")
            _bounds(self, value, low, high)
            return value
        if self.kind == "float":
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ArgError(f"{self.name}: {raw!r} is not a number") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise ArgError(f"{self.name}: {raw!r} is not a finite number")
            _bounds(self, value, self.minimum, self.maximum)
            return value
        text = str(raw)
        if self.required and not text.strip():
            raise ArgError(f"{self.name}: give a value")
        if self.choices and text not in self.choices:
            raise ArgError(f"{self.name}: {text!r} is not one of {', '.join(self.choices)}")
        if self.max_length is not None and len(text) > self.max_length:
            raise ArgError(f"{self.name}: at most {self.max_length} characters ({len(text)} given)")
        return text


def _integer(arg: Arg, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ArgError(f"{arg.name}: {raw!r} is not a whole number")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ArgError(f"{arg.name}: {raw!r} is not a whole number")
    return int(text)


def _bounds(arg: Arg, value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise ArgError(f"{arg.name}: {_num(value)} is below the minimum {_num(low)}")
    if high is not None and value > high:
        raise ArgError(f"{arg.name}: {_num(value)} is above the maximum {_num(high)}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command: its qualified name (`audit tail`), what it does, what it needs, its arguments."""

    name: str
    description: str
    permission: Role
    rate_class: str = "query"
    args: tuple[Arg, ...] = ()

    @property
    def privileged(self) -> bool:
        """Privileged commands are audited when they run, not only when refused."""
        return self.permission >= Role.OPERATOR

    def usage(self) -> str:
        """`audit tail [COUNT]`: the console's usage line, made from the schema."""
        parts = [self.name]
        for a in self.args:
            parts.append(a.metavar if a.required else f"[{a.metavar}]")
        return " ".join(parts)

    def arg(self, name: str) -> Arg | None:
        """The argument called `name`."""
        return next((a for a in self.args if a.name == name), None)


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """A kind of button or select; the custom id carries its route and one argument.

    `edits`: a click answers by replacing the clicked message (a Refresh) instead of privately.
    `form`: fields a click asks for first (a modal on Discord), passed to the handler by name.
    `audited`: audited when it runs though anyone may click it (a click that changes something
    outside the bot, such as granting a role).
    """

    route: str
    permission: Role
    rate_class: str = "query"
    select: bool = False
    edits: bool = False
    form: tuple[Arg, ...] = ()
    audited: bool = False

    @property
    def privileged(self) -> bool:
        """Privileged clicks are audited when they run, not only when refused."""
        return self.audited or self.permission >= Role.OPERATOR

    @property
    def name(self) -> str:
        """How the audit log and refusals name this component."""
        return f"component {self.route}"

    def custom_id(self, arg: str = "") -> str:
        """The custom id of one component of this kind; the argument is cut to fit 100 chars."""
        head = f"{SELECT_PREFIX if self.select else BUTTON_PREFIX}:{self.route}:"
        return head + arg[: 100 - len(head)]


def parse_custom_id(custom_id: str) -> tuple[str, str] | None:
    """(route, argument) of one of our custom ids, or None for anything else."""
    m = CUSTOM_ID_RE.fullmatch(custom_id)
    return (m["route"], m["arg"]) if m else None


def parse_words(spec: CommandSpec, words: Sequence[str]) -> dict[str, Any]:
    """Console words after the command name -> the handler's arguments, validated.

    Arguments are positional in schema order, or named as `--name VALUE` (`--name=VALUE`, or
    the short alias); a value that starts with '-' is taken as a value when it is a number.
    """
    values: dict[str, Any] = {}
    positional = list(spec.args)
    i = 0
    words = list(words)
    while i < len(words):
        word = words[i]
        arg = _named(spec, word)
        if arg is not None:
            if "=" in word and word.startswith("--"):
                raw = word.split("=", 1)[1]
            else:
                if i + 1 >= len(words):
                    raise ArgError(f"{word} needs a value ({arg.metavar})")
                i += 1
                raw = words[i]
            if arg.name in values:
                raise ArgError(f"{arg.name} given twice")
            values[arg.name] = arg.convert(raw)
        elif word.startswith("-") and not re.fullmatch(r"-[0-9.]+", word):
            raise ArgError(f"unknown option {word}")
        else:
            free = [a for a in positional if a.name not in values]
            if not free:
                raise ArgError(f"unexpected argument {word!r}")
            values[free[0].name] = free[0].convert(word)
        i += 1
    return check_args(spec, values)


def _named(spec: CommandSpec, word: str) -> Arg | None:
    for a in spec.args:
        long = f"--{a.name}"
        if word == long or word.startswith(f"{long}=") or (a.short and word == a.short):
            return a
    return None


def check_args(spec: CommandSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every argument of `spec` validated and defaulted; unknown or missing ones are refused."""
    unknown = sorted(set(given) - {a.name for a in spec.args})
    if unknown:
        raise ArgError(f"unknown argument {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for a in spec.args:
        raw = given.get(a.name)
        if raw is None or (isinstance(raw, str) and raw == "" and not a.required):
            if a.required:
                raise ArgError(f"{a.name} is required ({a.metavar})")
            out[a.name] = a.default
        else:
            out[a.name] = a.convert(raw)
    return out
