"""JSON nested deeper than the parser goes, from whatever answers in place of a server or a store
(a pull request chooses a Vault's or GitHub API's address), from a store's files or a lock
record: read as any other JSON that cannot be read, never a RecursionError traceback."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from reconciler.backends.http_retry import error_text, json_object
from reconciler.desired.model import IdentitySource, IdentityToken, StoreConfig
from reconciler.errors import AuthError, ReconcilerError, ServerError, StoreError
from reconciler.jwtinfo import unverified_claims
from reconciler.locks.dynamodb import DynamoDbLock
from reconciler.locks.record import from_json
from reconciler.secret import Secret
from reconciler.server import federation
from reconciler.server.http import HttpDriver
from reconciler.stores.file import _Previous
from reconciler.stores.formats import token_from_payload
from reconciler.stores.github import _strings
from reconciler.stores.metadata_files import parse_strings
from reconciler.stores.registry import StoreContext
from reconciler.stores.vault import open_vault_store

DEEP = "[" * 200_000  # past any recursion limit; the parser gives up before the missing "]"
NOW = datetime(2027, 3, 1, tzinfo=UTC)


def answering(status: int, body: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body.encode()))


def deep_response(status: int = 200) -> httpx.Response:
    request = httpx.Request("GET", "https://vault.example.com/v1/secret/metadata/ppm/x")
    return httpx.Response(status, content=DEEP.encode(), request=request)


def test_a_store_answer_nested_too_deeply_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="is not a JSON object"):
        json_object(deep_response(), "store 'vault': read")
    assert error_text(deep_response(500)) == "HTTP 500"


def test_a_vault_answering_nested_json_fails_the_store_not_the_run(tmp_path: Path) -> None:
    """The whole path: plan opens the store of a spec whose `address` a pull request chose."""
    config = StoreConfig(
        "vault",
        "vault",
        MappingProxyType(
            {"address": "https://vault.example.com", "mount": "secret", "prefix": "ppm/"}
        ),
    )
    context = StoreContext(
        spec_dir=tmp_path,
        env={"VAULT_TOKEN": "hvs.not-a-real-token"},
        http_transport=answering(200, DEEP),
        now=lambda: NOW,
    )
    store = open_vault_store(config, context)
    try:
        with pytest.raises(StoreError):
            store.read_meta_many(["ds-read"])
    finally:
        store.close()


@pytest.mark.parametrize(
    ("status", "error"),
    [pytest.param(400, AuthError, id="refused"), pytest.param(200, ServerError, id="given")],
)
def test_a_token_exchange_answer_nested_too_deeply_says_so(
    status: int, error: type[ReconcilerError]
) -> None:
    with (
        httpx.Client(transport=answering(status, DEEP)) as client,
        pytest.raises(error),
    ):
        federation.exchange(
            client, "https://ppm.example.com", Secret("identity"), now=NOW, sleep=lambda _: None
        )


def test_the_actions_oidc_answer_nested_too_deeply_says_so(tmp_path: Path) -> None:
    env = {federation.ACTIONS_URL: "https://oidc.example.com/t", federation.ACTIONS_TOKEN: "x"}
    source = IdentityToken(IdentitySource.GITHUB_ACTIONS, "aud")
    with pytest.raises(AuthError, match="without a token"):
        federation.identity_token(
            source, env, tmp_path, client=lambda: httpx.Client(transport=answering(200, DEEP))
        )


def test_a_server_status_nested_too_deeply_is_no_version() -> None:
    client = httpx.Client(base_url="https://ppm.example.com", transport=answering(200, DEEP))
    with HttpDriver("https://ppm.example.com", Secret("admin"), client=client) as driver:
        assert driver.server_version() is None


def _jwt_with_payload(payload: str) -> str:
    encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{encoded}.c2ln"


class _Table:
    """A DynamoDB client whose lock item another machine wrote."""

    def __init__(self, info: str) -> None:
        self.info = info

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return {"Item": {"LockID": {"S": "k"}, "Info": {"S": self.info}}}


def _dynamodb_record(info: str) -> object:
    return DynamoDbLock(_Table(info), "locks", "k", now=lambda: NOW).current()


@pytest.mark.parametrize(
    ("parse", "expected"),
    [
        pytest.param(lambda: parse_strings(DEEP.encode()), None, id="file-store-sidecar"),
        pytest.param(lambda: _Previous.from_bytes(DEEP.encode()), None, id="file-store-copy"),
        pytest.param(lambda: from_json(DEEP.encode()), None, id="lock-record"),
        pytest.param(lambda: token_from_payload(Secret(DEEP), "json"), None, id="json-payload"),
        pytest.param(lambda: _strings({"value": DEEP}), {}, id="github-variable"),
        pytest.param(lambda: unverified_claims(_jwt_with_payload(DEEP)), None, id="jwt-claims"),
        pytest.param(lambda: _dynamodb_record(DEEP), None, id="dynamodb-lock-record"),
    ],
)
def test_stored_json_nested_too_deeply_reads_as_unreadable(
    parse: Callable[[], object], expected: object
) -> None:
    assert parse() == expected
