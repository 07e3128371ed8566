from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reconciler.desired.model import SecretFormat
from reconciler.errors import UsageError
from reconciler.secret import Secret
from reconciler.stores.base import SecretMeta
from reconciler.stores.formats import render_payload

from .conftest import VALUE


def test_raw_is_the_value_alone(meta: SecretMeta) -> None:
    rendered = render_payload(Secret(VALUE), SecretFormat.RAW, server_url="https://x", meta=meta)
    assert rendered.reveal() == VALUE


def test_json_has_sorted_keys_and_a_final_newline(meta: SecretMeta) -> None:
    rendered = render_payload(
        Secret(VALUE), SecretFormat.JSON, server_url="https://ppm.example.com", meta=meta
    ).reveal()

    assert rendered.endswith("}\n")
    document = json.loads(rendered)
    assert list(document) == sorted(document)
    assert document == {
        "token": VALUE,
        "guid": meta.token_guid,
        "server": "https://ppm.example.com",
        "expires": "2027-05-30T12:00:00+00:00",
        "scope": "repos:read",
        "name": "ds-read",
    }


def test_json_never_expiring_is_null(meta: SecretMeta) -> None:
    rendered = render_payload(
        Secret(VALUE), SecretFormat.JSON, server_url="https://x", meta=replace(meta, expires=None)
    )
    assert json.loads(rendered.reveal())["expires"] is None


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://ppm.example.com", "ppm.example.com"),
        ("https://ppm.example.com:4242/some/path/", "ppm.example.com"),
        ("http://user@ppm.example.com:8080/cran/latest?x=1", "ppm.example.com"),
        ("ppm.example.com:443/pypi", "ppm.example.com"),
        ("http://127.0.0.1:4242", "127.0.0.1"),
        ("https://[::1]:4242/", "::1"),
    ],
)
def test_netrc_uses_the_host_name_only(meta: SecretMeta, url: str, host: str) -> None:
    rendered = render_payload(Secret(VALUE), SecretFormat.NETRC, server_url=url, meta=meta)
    assert rendered.reveal() == f"machine {host} login __token__ password {VALUE}\n"


def test_netrc_without_a_host_is_a_usage_error(meta: SecretMeta) -> None:
    with pytest.raises(UsageError, match="has no host name") as caught:
        render_payload(Secret(VALUE), SecretFormat.NETRC, server_url="https://", meta=meta)
    assert VALUE not in str(caught.value)


@pytest.mark.parametrize("fmt", list(SecretFormat))
def test_rendered_payload_stays_redacted(meta: SecretMeta, fmt: SecretFormat) -> None:
    rendered = render_payload(Secret(VALUE), fmt, server_url="https://ppm.example.com", meta=meta)
    assert VALUE not in repr(rendered) and VALUE not in str(rendered)
