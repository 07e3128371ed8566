"""Secret keys a store reserves for itself are refused by `validate`, per store type."""

from __future__ import annotations

import pytest

from reconciler.desired.store_rules import KEY_RULES, file_key, github_key

from .helpers import check, errors, messages, spec_with

STORES = """\
stores:
  local: {type: file, path: /var/lib/ppm-tokens}
  op: {type: command, command: [op, item, edit, "{secret}"]}
  ci: {type: github, repository: acme/pipelines}
  vault: {type: vault, address: https://vault.example.com, mount: secret, prefix: ppm/}
"""


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "empty"),
        ("/etc/ppm", "absolute path"),
        ("team//ds-read", "empty path component"),
        ("team/", "empty path component"),
        ("team/../ds-read", "'.' and '..'"),
        ("./ds-read", "'.' and '..'"),
        (".ds-read", "'.ds-read'"),
        ("team/.tmp/ds-read", "'.tmp'"),
        ("ds-read.meta.json", "metadata"),
        ("team/ds-read.meta.json", "metadata"),
        ("ds-read.previous", "previous value"),
    ],
)
def test_file_keys_the_store_keeps_for_itself(key: str, fragment: str) -> None:
    reason = file_key(key)
    assert reason is not None and fragment in reason


@pytest.mark.parametrize(
    "key", ["ds-read", "team/ds-read", "ds-read.json", "meta.json.d/x", "a.previous/b", "x.y"]
)
def test_ordinary_file_keys(key: str) -> None:
    assert file_key(key) is None


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("ds-read", "A-Z, 0-9 and _ only: try DS_READ"),
        ("GITHUB_PPM", "cannot start with GITHUB_: try PPM"),
        ("1PPM", "cannot start with a digit: try _1PPM"),
    ],
)
def test_github_secret_names(key: str, fragment: str) -> None:
    reason = github_key(key)
    assert reason is not None and fragment in reason
    assert github_key("PPM_DS_READ") is None


def test_every_store_type_with_reserved_names_has_a_rule() -> None:
    assert set(KEY_RULES) >= {"file", "command", "github"}


@pytest.mark.parametrize(
    ("store", "secret"),
    [
        ("local", "ds-read.meta.json"),
        ("local", "ds-read.previous"),
        ("local", "team/.partial"),
        ("op", "ds-read.meta.json"),
        ("op", "team/.ds-read"),
        ("ci", "ds_read"),
    ],
)
def test_validate_refuses_reserved_keys_by_store_type(store: str, secret: str) -> None:
    spec, problems = check(spec_with(stores=STORES, store=store, secret=secret))
    assert spec is None
    found = errors(problems)
    assert [p.path for p in found] == ["/tokens/0/secret"]
    assert found[0].message.startswith(
        f"token 'ds-read' secret: {secret!r} cannot be a secret in store {store!r}: "
    )


def test_the_token_name_as_the_default_secret_is_checked_too() -> None:
    spec, problems = check(spec_with(stores=STORES, name="ds-read.previous", store="local"))
    assert spec is None
    assert [p.path for p in errors(problems)] == ["/tokens/0/name"]
    assert "(the secret name defaults to the token name: set `secret:`)" in problems[0].message


def test_stores_without_rules_take_what_the_schema_allows() -> None:
    spec, problems = check(spec_with(stores=STORES, store="vault", secret="ds-read.previous"))
    assert problems == [] and spec is not None


@pytest.mark.parametrize(
    ("kind", "key", "reason"),
    [
        ("vault", "team/ds-read", None),
        ("vault", "team//ds-read", "the name has an empty"),
        ("vault", "a b", "the name segment 'a b'"),
        ("aws", "ppm/ci-deploy", None),
        ("aws", "tilde~", "the name may use only"),
        ("github", "PPM_DS_READ", None),
        ("github", "ds-read", "try DS_READ"),
        ("github", "X" * 201, "the name has 201 characters"),
        ("github", "DS_PPM_TOKENS_META", "the name ends with _PPM_TOKENS_META"),
    ],
)
def test_remote_store_key_rules(kind: str, key: str, reason: str | None) -> None:
    found = KEY_RULES[kind](key)
    assert (found is None) if reason is None else (found is not None and reason in found)


def test_too_many_aws_tags_says_the_limit_and_why_not_the_whole_map() -> None:
    tags = ", ".join(f"t{i}: v" for i in range(42))
    stores = f"stores:\n  aws: {{type: aws, region: eu-west-1, prefix: ppm/, tags: {{{tags}}}}}\n"
    spec, problems = check(spec_with(stores=stores, store="aws"))
    assert spec is None
    assert messages(errors(problems)) == [
        "store 'aws' tags: at most 41 tags: the store's own metadata takes up to 9 of the 50 "
        "AWS allows"
    ]


def test_store_urls_take_the_scheme_in_any_case_as_the_server_url_does() -> None:
    stores = """\
stores:
  vault: {type: vault, address: HTTPS://Vault.example.com, mount: secret, prefix: ppm/}
  ci: {type: github, repository: acme/pipelines, api_url: HTTPS://ghe.example.com/api/v3}
  sm: {type: aws, region: eu-west-1, prefix: ppm/, endpoint_url: HTTP://127.0.0.1:5000}
"""
    lock = "lock: {type: dynamodb, table: locks, region: eu-west-1, endpoint_url: HTTP://x.test}\n"
    spec, problems = check(spec_with(top=lock, stores=stores))
    assert errors(problems) == [], messages(problems)
    assert spec is not None
