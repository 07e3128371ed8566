"""Text a server, a store's program or a log record quotes is shown escaped, on one line."""

from __future__ import annotations

import io
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest

from reconciler.desired.model import StoreConfig
from reconciler.errors import RequestRejected, StoreError
from reconciler.logs import RedactingFilter
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.stores.base import SecretMeta, SecretPayload
from reconciler.stores.command import open_command_store
from reconciler.stores.registry import StoreContext
from tests.hostile import FORGE, HIDE, RETITLE, REVERSE, unsafe_left
from tests.jwt_shapes import jwt_shaped

HOSTILE = HIDE + RETITLE + FORGE + REVERSE


def test_a_server_error_message_is_quoted_escaped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": HOSTILE})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    driver = HttpDriver("https://ppm.example.com", Secret("x"), client=client)
    with driver, pytest.raises(RequestRejected) as raised:
        driver.list_tokens()
    message = str(raised.value)
    assert unsafe_left(message) == []
    assert "\n" not in message
    assert "\\x1b[8mhidden" in message and "\\n  + create   forged-token" in message


def test_a_store_program_stderr_is_quoted_escaped(tmp_path: Path) -> None:
    script = f"import sys; sys.stderr.write({HOSTILE!r}); sys.exit(3)"
    config = StoreConfig(
        "op", "command", MappingProxyType({"command": (sys.executable, "-c", script)})
    )
    store = open_command_store(config, StoreContext(spec_dir=tmp_path, env={"HOME": str(tmp_path)}))
    meta = SecretMeta("g", "ds-read", "ns", datetime(2027, 1, 1, tzinfo=UTC), None, "repos:read")
    with pytest.raises(StoreError) as raised:
        store.put("ds-read", SecretPayload(Secret(jwt_shaped("g")), meta))
    message = str(raised.value)
    assert unsafe_left(message) == []
    assert "\n" not in message
    assert "\\x1b]0;pwned\\x07" in message


def test_log_records_cannot_forge_or_hide_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.quoting")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("server said %s", "ok\nERROR forged record" + HIDE)
        try:
            raise ValueError("bad " + RETITLE)
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "WARNING server said ok\\nERROR forged record\\x1b[8mhidden"
    assert not any(line.startswith("ERROR forged") for line in lines)
    assert unsafe_left(stream.getvalue()) == []
    assert "Traceback" in lines[2]  # a traceback keeps its own line breaks
