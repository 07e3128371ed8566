"""Which server a run talks to: the first of --server, PACKAGEMANAGER_ADDRESS and server.url,
in its canonical form."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.commands.runtime import Environment, GlobalOptions, server_url
from reconciler.errors import UsageError


@pytest.mark.parametrize(
    ("flag", "variable", "expected"),
    [
        ("HTTPS://PPM.example.com:443/", None, "https://ppm.example.com"),
        (None, "http://ppm.example.com:80", "http://ppm.example.com"),
        (None, "https://bücher.example/ppm/", "https://xn--bcher-kva.example/ppm"),
    ],
)
def test_the_server_is_used_in_its_canonical_form(
    flag: str | None, variable: str | None, expected: str
) -> None:
    env = Environment({"PACKAGEMANAGER_ADDRESS": variable} if variable else {}, Path("/"))
    assert server_url(GlobalOptions(server=flag), env, None) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://admin:s3cret@ppm.example.com", "carries a user name or password"),
        ("https://ppm.example.com/?token=x", "has a query or a fragment"),
        ("https://ppm.example.com/#top", "has a query or a fragment"),
    ],
)
def test_a_server_url_with_more_than_an_address_is_refused(url: str, reason: str) -> None:
    env = Environment({"PACKAGEMANAGER_ADDRESS": url}, Path("/"))
    with pytest.raises(UsageError, match=f"from PACKAGEMANAGER_ADDRESS\\) {reason}") as raised:
        server_url(GlobalOptions(), env, None)
    assert "s3cret" not in str(raised.value)
