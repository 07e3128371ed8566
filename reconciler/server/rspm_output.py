"""What PPM's CLI said when a command failed, fit to show, and whether it could not parse it.

The CLI is a cobra program. Given a flag or command it does not have (it is older or newer than
the flags ppm-tokens uses), it prints `Error: unknown flag: --output-format`, then its whole usage
text, on stderr, and exits non-zero (1, or 2 as shells do for usage errors). The reason is the
`Error:` line; the usage text after it only buries it. So the quote shows the `Error:` line first
and then a short tail of whatever else the CLI said before its usage text, and a usage error is
known by its exit code or its reason, never by what the tail happens to hold. A usage error is
deterministic: trying again cannot help.

Pure: the driver passes in what the CLI printed and the secrets to keep out of the quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from reconciler.logs import redact
from reconciler.sanitize import for_terminal

USAGE_EXIT = 2
TAIL_LINES = 3
QUOTE_LIMIT = 500
REDACTED = "(sensitive value)"

_ERROR_LINE = re.compile(r"^Error:\s*", re.IGNORECASE)
# Where cobra's usage text (or its help) starts: nothing from there on says what went wrong.
_USAGE_TEXT = re.compile(r"^(Usage:|Flags:|Global Flags:|Available Commands:|Examples:)")
_USAGE_REASON = re.compile(
    r"unknown (shorthand )?flag|unknown command|required flag\(s\)|flag needs an argument|"
    r"invalid argument .* for .*flag",
    re.IGNORECASE,
)
# The CLI's release, as PPM numbers them (2024.04.0-7): year.month.patch, then a build.
_VERSION = re.compile(r"\b(\d{4})\.(\d{1,2})\.(\d+)(?:-[0-9A-Za-z.+-]+)?\b")


def _lines(stderr: str, secrets: Iterable[str]) -> list[str]:
    text = stderr
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    lines = []
    for raw in redact(text).splitlines():
        line = raw.strip()
        if _USAGE_TEXT.match(line):
            break
        if line and not line.startswith("<<"):  # `<<` lines are the CLI's informational ones
            lines.append(line)
    return lines


def quote(stderr: str, secrets: Iterable[str] = ()) -> str:
    """The reason first (the `Error:` line), then the last few other lines the CLI printed before
    its usage text; on one line, escaped, without the secrets, bounded."""
    lines = _lines(stderr, secrets)
    error = next((line for line in lines if _ERROR_LINE.match(line)), None)
    rest = [line for line in lines if line is not error]
    shown = ([error] if error is not None else []) + rest[-TAIL_LINES:]
    quoted = " | ".join(for_terminal(line) for line in shown)
    if len(quoted) > QUOTE_LIMIT:
        return quoted[:QUOTE_LIMIT] + "..."
    return quoted or "no message"


def is_usage_error(returncode: int, stderr: str) -> bool:
    """Whether the CLI refused the command line itself (an unknown flag or command, a required
    flag missing), before doing anything."""
    if returncode == USAGE_EXIT:
        return True
    return any(_USAGE_REASON.search(line) for line in _lines(stderr, ()))


def version_of(text: str) -> str | None:
    """The first PPM release number in what `rspm --version` (or the server) printed."""
    match = _VERSION.search(text)
    return match.group(0) if match else None


def major_minor(version: str) -> tuple[int, int] | None:
    match = _VERSION.search(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def versions_match(cli: str, server: str) -> bool | None:
    """Whether the CLI's major.minor is the server's; None when either cannot be read."""
    mine, theirs = major_minor(cli), major_minor(server)
    if mine is None or theirs is None:
        return None
    return mine == theirs
