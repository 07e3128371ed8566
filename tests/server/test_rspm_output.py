"""Reading what the rspm CLI printed when it failed: the reason first, bounded and escaped; usage
errors told apart; PPM version numbers compared by major.minor."""

from __future__ import annotations

import pytest

from reconciler.server.rspm_output import (
    QUOTE_LIMIT,
    is_usage_error,
    quote,
    version_of,
    versions_match,
)
from tests.jwt_shapes import jwt_shaped

USAGE = "Usage:\n  rspm list tokens [flags]\n\nFlags:\n  -h, --help   help\n"


@pytest.mark.parametrize(
    ("stderr", "quoted"),
    [
        (f"Error: unknown flag: --output-format\n{USAGE}", "Error: unknown flag: --output-format"),
        # The reason first, then the last lines said before the usage text.
        (
            "<< Connecting\none\ntwo\nthree\nfour\nError: 503 Service Unavailable\n" + USAGE,
            "Error: 503 Service Unavailable | two | three | four",
        ),
        ("dial tcp: connection refused\n", "dial tcp: connection refused"),
        ("<< only informational\n\n", "no message"),
        ("Error: bad \x1b[8mhidden\u202e\n", "Error: bad \\x1b[8mhidden\\u202e"),
    ],
    ids=["usage-dropped", "reason-first", "no-error-line", "nothing", "escaped"],
)
def test_the_quote_puts_the_reason_first(stderr: str, quoted: str) -> None:
    assert quote(stderr) == quoted


def test_the_quote_holds_no_secret_and_is_bounded() -> None:
    secret = "s3cr3t-admin-token"
    jwt = jwt_shaped("x")
    said = quote(f"Error: refused {secret} and {jwt}\n" + "x" * 5000, [secret])
    assert secret not in said and jwt not in said
    assert said.startswith("Error: refused (sensitive value) and ")
    assert len(said) == QUOTE_LIMIT + 3 and said.endswith("...")


@pytest.mark.parametrize(
    ("code", "stderr", "usage"),
    [
        (2, "Error: anything at all\n", True),
        (1, f"Error: unknown flag: --user\n{USAGE}", True),
        (1, "Error: unknown shorthand flag: 'q' in -q\n", True),
        (1, 'Error: unknown command "tokens" for "rspm list"\n', True),
        (1, 'Error: required flag(s) "scope" not set\n', True),
        (1, "Error: flag needs an argument: --scope\n", True),
        (1, 'Error: invalid argument "x" for "--limit" flag: not a number\n', True),
        (1, "Error: 403 Forbidden\n" + USAGE, False),  # cobra prints usage after any error
        (1, "Error: unknown repository 'nope'\n", False),
    ],
)
def test_usage_errors_are_told_by_exit_code_or_reason(code: int, stderr: str, usage: bool) -> None:
    assert is_usage_error(code, stderr) is usage


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("rspm version 2024.04.2-13\n", "2024.04.2-13"),
        ("Posit Package Manager 2023.12.0 (build 1234)", "2023.12.0"),
        ("2026.10.0-emulator", "2026.10.0-emulator"),
        ("rspm version dev\n", None),
    ],
)
def test_versions_are_read_from_what_is_printed(text: str, version: str | None) -> None:
    assert version_of(text) == version


def test_versions_match_by_major_minor() -> None:
    assert versions_match("2026.10.2-4", "2026.10.0-emulator") is True
    assert versions_match("2024.04.0", "2024.4.1") is True
    assert versions_match("2024.04.0", "2024.08.0") is False
    assert versions_match("dev", "2024.08.0") is None
