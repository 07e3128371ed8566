"""The offline rules `validate` uses for vault, aws and github secrets: pure, no SDK imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reconciler.desired import aws_rules, github_rules, vault_rules


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("ds-read", None),
        ("team/ds-read", None),
        ("a.b_c@d=e,f", None),
        ("", "is empty"),
        ("/abs", "starts or ends with '/'"),
        ("dir/", "starts or ends with '/'"),
        ("a//b", "empty, '.' or '..'"),
        ("a/../b", "empty, '.' or '..'"),
        ("has space", "characters Vault policies cannot match"),
        ("glob*", "characters Vault policies cannot match"),
        ("plus+", "characters Vault policies cannot match"),
    ],
)
def test_vault_keys(key: str, problem: str | None) -> None:
    found = vault_rules.key_problem(key)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_vault_prefix_may_end_with_a_slash_or_be_empty() -> None:
    assert vault_rules.prefix_problem("") is None
    assert vault_rules.prefix_problem("ppm/") is None
    assert vault_rules.prefix_problem("team/ppm/") is None
    assert "prefix" in (vault_rules.prefix_problem("/ppm/") or "")


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({f"k{i}": "v" for i in range(64)}, None),
        ({f"k{i}": "v" for i in range(65)}, "65 keys"),
        ({"k" * 128: "v"}, None),
        ({"k" * 129: "v"}, "129 characters"),
        ({"k": "v" * 512}, None),
        ({"k": "v" * 513}, "513 characters"),
    ],
    ids=["64-keys", "65-keys", "key-128", "key-129", "value-512", "value-513"],
)
def test_vault_custom_metadata_limits(metadata: dict[str, str], problem: str | None) -> None:
    found = vault_rules.custom_metadata_problem(metadata)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("maintainers/upload", None),
        ("a_b+c=d.e@f-g", None),
        ("x" * 512, None),
        ("x" * 513, "513 characters"),
        ("", "is empty"),
        ("has space", "may use only"),
        ("tilde~", "may use only"),
        # AWS advises against names ending like an ARN's random suffix, but the store never
        # looks a secret up by partial ARN, and token names such as ci-deploy end that way.
        ("ci-deploy", None),
    ],
)
def test_aws_names(key: str, problem: str | None) -> None:
    found = aws_rules.key_problem(key)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_aws_name_counts_the_prefix() -> None:
    assert aws_rules.name_problem("ppm/", "x" * 508) is None
    assert "513 characters" in (aws_rules.name_problem("ppm/", "x" * 509) or "")
    assert "prefix" in (aws_rules.name_problem("p p/", "x") or "")


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ({"team": "data platform", "cost-center": "42/a:b@c.d+e=f_g"}, None),
        ({f"t{i}": "v" for i in range(50)}, None),
        ({f"t{i}": "v" for i in range(51)}, "at most 50"),
        ({"k" * 127: "v"}, None),
        ({"k" * 128: "v"}, "1 to 127"),
        ({"k": "v" * 255}, None),
        ({"k": "v" * 256}, "more than 255"),
        ({"AWS:owner": "x"}, "reserves"),
        ({"k": "semi;colon"}, "does not allow"),
    ],
)
def test_aws_tags(tags: dict[str, str], problem: str | None) -> None:
    found = aws_rules.tags_problem(tags)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(("days", "ok"), [(6, False), (7, True), (30, True), (31, False)])
def test_aws_recovery_window(days: int, ok: bool) -> None:
    assert (aws_rules.recovery_window_problem(days) is None) is ok


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("PPM_TOKEN", None),
        ("_X1", None),
        ("ppm_token", "A-Z, 0-9 and _"),
        ("1ST", "A-Z, 0-9 and _"),
        ("A-B", "A-Z, 0-9 and _"),
        ("GITHUB_PPM", "GITHUB_"),
        ("X_PPM_TOKENS_META", "metadata"),
        ("X" * 201, "at most 200"),
        ("", "is empty"),
    ],
)
def test_github_names(key: str, problem: str | None) -> None:
    found = github_rules.key_problem(key)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_github_payload_bound() -> None:
    assert github_rules.payload_problem(48 * 1024) is None
    assert "49152" in (github_rules.payload_problem(48 * 1024 + 1) or "")
    assert github_rules.metadata_variable("PPM_TOKEN") == "PPM_TOKEN_PPM_TOKENS_META"


def test_the_rules_import_no_sdk() -> None:
    """validate runs them without the aws or github extras installed."""
    code = (
        "import sys; import reconciler.desired.vault_rules, reconciler.desired.aws_rules, "
        "reconciler.desired.github_rules; "
        "print(sorted(m for m in ('boto3', 'botocore', 'nacl', 'httpx') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
