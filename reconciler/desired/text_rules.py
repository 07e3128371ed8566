"""Rules for text that people and servers read back: no control, bidirectional or invisible
characters anywhere in a spec, and a `user` PPM accepts.

A token's user and description are shown in plans, pull-request comments and PPM's own pages;
an escape sequence or a right-to-left override in them could hide or forge what a reviewer
sees, and a line break in a one-line field could forge a whole line. The same holds for names,
secrets and keys, so every string in the file is checked, not only those four.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING

from reconciler.desired.effective import mapping
from reconciler.desired.loader import JsonPath
from reconciler.desired.where import describe
from reconciler.problems import Problem
from reconciler.sanitize import (
    EXCERPT,
    for_terminal,
    has_unsafe_characters,
    quoted,
    unsafe_character,
)

MAX_EMAIL = 254  # RFC 5321's longest forward path, less the angle brackets
MAX_EMAIL_LOCAL = 64  # RFC 5321: the part before the @
MAX_LABEL = 128  # a user that is not an email: "ci-system", "team data-platform"

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
# Arguments of a command store's programs may be multi-line scripts (`sh -c`), so a line break
# or a tab is allowed there; nothing else is.
_COMMAND_KEYS = frozenset({"command", "read_command", "delete_command", "read_value_command"})
_COMMAND_WHITESPACE = frozenset("\n\t")
_CONTROL_NAMES = {
    "\x00": "NUL",
    "\x07": "BEL",
    "\x08": "backspace",
    "\t": "tab",
    "\n": "line feed",
    "\x0b": "vertical tab",
    "\x0c": "form feed",
    "\r": "carriage return",
    "\x1b": "ESC",
    "\x7f": "DEL",
    "\x85": "next line",
    "\x9b": "CSI",
}

if TYPE_CHECKING:
    from reconciler.desired.rules import Context


def character_name(char: str) -> str:
    """`ESC`, `right-to-left override`, `U+0091`: how a message names a character."""
    if char in _CONTROL_NAMES:
        return _CONTROL_NAMES[char]
    name = unicodedata.name(char, "")
    return name.lower() if name else f"U+{ord(char):04X}"


def first_unsafe(text: str, allowed: frozenset[str] = frozenset()) -> int | None:
    """The index of the first character that must not be shown as itself, if any."""
    return next(
        (i for i, char in enumerate(text) if char not in allowed and unsafe_character(char)),
        None,
    )


def unsafe_text(ctx: Context) -> Iterator[Problem]:
    """Every key and string value in the document, checked for unsafe characters."""
    yield from _walk(ctx, ctx.document.data, ())


def _walk(ctx: Context, value: object, path: JsonPath) -> Iterator[Problem]:
    if isinstance(value, dict):
        for key, item in value.items():
            key_path = (*path, key)
            if has_unsafe_characters(key):
                where = f"key {quoted(key)}"
                if path:
                    where += f" in {describe(ctx.data, path)}"
                problem = _unsafe(ctx, key, key_path, where, on_key=True)
                if problem is not None:
                    yield problem
            yield from _walk(ctx, item, key_path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(ctx, item, (*path, index))
    elif isinstance(value, str) and has_unsafe_characters(value):
        # Named only when there is something to say: most strings of a large spec are clean.
        allowed = _COMMAND_WHITESPACE if _in_command(path) else frozenset()
        problem = _unsafe(ctx, value, path, describe(ctx.data, path), allowed=allowed)
        if problem is not None:
            yield problem


def _in_command(path: JsonPath) -> bool:
    return len(path) == 4 and path[0] == "stores" and path[2] in _COMMAND_KEYS


def _unsafe(
    ctx: Context,
    text: str,
    path: JsonPath,
    where: str,
    *,
    on_key: bool = False,
    allowed: frozenset[str] = frozenset(),
) -> Problem | None:
    index = first_unsafe(text, allowed)
    if index is None:
        return None
    char = text[index]
    # A longer value is not repeated: a message quotes at most an excerpt of the input.
    shown = f" '{for_terminal(text)}'" if len(text) <= EXCERPT and not on_key else ""
    message = (
        f"{where}{shown} contains {for_terminal(char)} ({character_name(char)}) at character "
        f"{index + 1}: control, bidirectional and invisible characters could hide or forge "
        "text where it is shown; remove it"
    )
    return ctx.error(path, message, on_key=on_key)


def user_problems(ctx: Context, index: int) -> Iterator[Problem]:
    user = mapping(ctx.data["tokens"][index]).get("user")  # type: ignore[index]
    if not isinstance(user, str) or has_unsafe_characters(user):
        return  # the schema reports the type, unsafe_text the characters
    path = ("tokens", index, "user")
    where = describe(ctx.data, path)
    if "@" in user:
        local = user.rpartition("@")[0]
        if len(user) > MAX_EMAIL:
            yield ctx.error(
                path,
                f"{where}: an email address has at most {MAX_EMAIL} characters, not {len(user)}",
            )
        elif len(local) > MAX_EMAIL_LOCAL:
            yield ctx.error(
                path,
                f"{where}: an email address has at most {MAX_EMAIL_LOCAL} characters before "
                f"the @, not {len(local)}",
            )
        elif not _EMAIL.match(user):
            yield ctx.error(path, f"{where}: {quoted(user)} is not a valid email address")
    elif len(user) > MAX_LABEL:
        yield ctx.error(
            path,
            f"{where}: a user that is not an email address is a label of at most {MAX_LABEL} "
            f"characters, not {len(user)}",
        )
