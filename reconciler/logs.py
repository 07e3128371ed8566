"""Log redaction: every record is scrubbed of anything that looks like a token before output."""

from __future__ import annotations

import logging
import re

# PPM tokens are JWTs; any three dot-separated base64url runs starting with a JSON header are
# treated as one, whatever their origin (admin token, a minted value, a header echoed back).
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
REDACTED = "(sensitive value)"


def redact(text: str) -> str:
    return JWT_PATTERN.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Scrubs the formatted message (and exception text) of each record in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
