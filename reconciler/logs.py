"""Log hygiene: every record is scrubbed of anything that looks like a token, and of characters
that could forge or hide a log line, before output."""

from __future__ import annotations

import logging
import re

from reconciler.sanitize import for_terminal

# PPM tokens are JWTs; any three dot-separated base64url runs starting with a JSON header are
# treated as one, whatever their origin (admin token, a minted value, a header echoed back).
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
REDACTED = "(sensitive value)"


def redact(text: str) -> str:
    return JWT_PATTERN.sub(REDACTED, text)


def _lines(text: str) -> str:
    """A traceback keeps its line breaks; nothing else in it reaches the terminal as itself."""
    return "\n".join(for_terminal(line) for line in text.split("\n"))


class RedactingFilter(logging.Filter):
    """Scrubs the formatted message (and exception text) of each record in place. A message is
    one line: a server's text quoted in it cannot start a forged record of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = for_terminal(redact(message))
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = _lines(redact(text))
            record.exc_info = None
        return True
