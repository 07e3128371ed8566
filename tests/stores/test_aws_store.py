"""The aws store against moto's AWS server, through real boto3 over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.backends.aws_session import describe_error
from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError
from reconciler.stores.aws import AwsStore, open_aws_store, request_token
from reconciler.stores.registry import StoreContext
from tests.stores.aws_faults import count_calls, fail_next
from tests.stores.moto_server import REGION, Moto, moto, unique_prefix
from tests.stores.payloads import new_payload

__all__ = ["moto"]  # fixture


def make_store(
    moto: Moto,
    tmp_path: Path,
    *,
    prefix: str | None = None,
    env: dict[str, str] | None = None,
    **options: Any,
) -> AwsStore:
    config = StoreConfig(
        "aws",
        "aws",
        MappingProxyType({"region": REGION, "prefix": prefix or unique_prefix(), **options}),
    )
    store = open_aws_store(config, StoreContext(spec_dir=tmp_path, env=env or moto.env()))
    assert isinstance(store, AwsStore)
    return store


def describe(moto: Moto, name: str) -> Any:
    return moto.client("secretsmanager").describe_secret(SecretId=name)


def value_of(moto: Moto, name: str) -> str:
    found: str = moto.client("secretsmanager").get_secret_value(
        SecretId=name, VersionStage="AWSCURRENT"
    )["SecretString"]
    return found


def test_moto_keeps_client_request_token_idempotent(moto: Moto) -> None:
    """The store relies on this: the same token and value twice make one version; the same
    token with another value is refused. A moto release that breaks it fails here."""
    client = moto.client("secretsmanager")
    name = unique_prefix() + "idempotency"
    client.create_secret(Name=name, SecretString="one", ClientRequestToken="a" * 36)
    client.put_secret_value(SecretId=name, SecretString="two", ClientRequestToken="b" * 36)
    client.put_secret_value(SecretId=name, SecretString="two", ClientRequestToken="b" * 36)

    stages = client.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages == {"a" * 36: ["AWSPREVIOUS"], "b" * 36: ["AWSCURRENT"]}
    with pytest.raises(client.exceptions.ResourceExistsException):
        client.put_secret_value(SecretId=name, SecretString="three", ClientRequestToken="b" * 36)


def test_put_creates_the_secret_with_its_metadata_as_tags(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path, tags={"team": "data-platform"})
    payload = new_payload()

    store.put("analysts/ds-read", payload)

    name = store.prefix + "analysts/ds-read"
    found = describe(moto, name)
    tags = {t["Key"]: t["Value"] for t in found["Tags"]}
    assert tags == {
        "team": "data-platform",
        **{f"ppm-tokens:{k}": v for k, v in payload.meta.to_strings().items()},
    }
    assert found["VersionIdsToStages"] == {request_token(payload.meta.token_guid): ["AWSCURRENT"]}
    assert value_of(moto, name) == payload.payload.reveal()
    assert store.read_meta("analysts/ds-read") == payload.meta
    assert store.read_value_hash("analysts/ds-read") == payload.payload.sha256()


def test_a_retried_put_of_the_same_token_makes_one_version(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path)
    old, new = new_payload(), new_payload()
    store.put("ds-read", old)
    store.commit("ds-read", old.meta.token_guid)

    store.put("ds-read", new)
    store.put("ds-read", new)

    stages = describe(moto, store.prefix + "ds-read")["VersionIdsToStages"]
    assert stages == {
        request_token(old.meta.token_guid): ["AWSPREVIOUS"],
        request_token(new.meta.token_guid): ["AWSCURRENT"],
    }
    # The retry did not make the earlier value unrestorable.
    assert store.restore_previous("ds-read", new.meta.token_guid)
    assert store.read_meta("ds-read") == old.meta


def test_restore_moves_awscurrent_back_and_restores_the_tags(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path)
    old, new = new_payload(), new_payload()
    store.put("ds-read", old)
    store.commit("ds-read", old.meta.token_guid)
    store.put("ds-read", new)

    assert store.restore_previous("ds-read", new.meta.token_guid) is True

    assert store.read_meta("ds-read") == old.meta
    assert value_of(moto, store.prefix + "ds-read") == old.payload.reveal()


def test_restore_after_the_first_put_deletes_the_secret(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path)
    payload = new_payload()
    store.put("ds-read", payload)

    assert store.restore_previous("ds-read", payload.meta.token_guid) is True

    assert store.read_meta("ds-read") is None
    client = moto.client("secretsmanager")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_secret(SecretId=store.prefix + "ds-read")


def test_restore_of_another_token_changes_nothing(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path)
    payload = new_payload()
    store.put("ds-read", payload)
    store.commit("ds-read", payload.meta.token_guid)

    assert store.restore_previous("ds-read", "some-other-guid") is True

    assert store.read_meta("ds-read") == payload.meta


def test_a_value_put_out_of_band_makes_the_metadata_stale(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path)
    store.put("ds-read", new_payload())

    moto.client("secretsmanager").put_secret_value(
        SecretId=store.prefix + "ds-read", SecretString="pasted by hand"
    )

    assert store.read_meta("ds-read") is None
    assert store.read_meta_many(["ds-read"]) == {"ds-read": None}


def test_after_an_out_of_band_delete_put_brings_the_secret_back(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path)
    store.put("ds-read", new_payload())
    moto.client("secretsmanager").delete_secret(
        SecretId=store.prefix + "ds-read", RecoveryWindowInDays=7
    )
    assert store.read_meta("ds-read") is None
    assert store.read_value_hash("ds-read") is None

    repaired = new_payload()
    store.put("ds-read", repaired)

    assert "DeletedDate" not in describe(moto, store.prefix + "ds-read")
    assert store.read_meta("ds-read") == repaired.meta
    assert store.read_value_hash("ds-read") == repaired.payload.sha256()


def test_delete_schedules_deletion_with_the_recovery_window(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path, recovery_window_days=10)
    store.put("ds-read", new_payload())
    before = datetime.now(UTC)

    store.delete("ds-read")
    store.delete("ds-read")  # already scheduled: not an error
    store.delete("never-written")

    deleted = describe(moto, store.prefix + "ds-read")["DeletedDate"]
    assert timedelta(days=9, hours=23) < deleted - before < timedelta(days=10, minutes=1)
    assert store.read_meta("ds-read") is None


def test_read_meta_many_is_one_list_call_per_hundred_secrets(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path)
    payloads = {f"t{i:03d}": new_payload(f"t{i:03d}") for i in range(105)}
    for key, payload in payloads.items():
        store.put(key, payload)
    calls = count_calls(store.client)

    found = store.read_meta_many([*payloads, "missing"])

    assert found == {**{k: p.meta for k, p in payloads.items()}, "missing": None}
    assert calls == {"ListSecrets": 2}


def test_a_kms_key_is_used_when_given(moto: Moto, tmp_path: Path) -> None:
    key_id = moto.client("kms").create_key()["KeyMetadata"]["KeyId"]
    store = make_store(moto, tmp_path, kms_key_id=key_id)

    store.put("ds-read", new_payload())

    assert describe(moto, store.prefix + "ds-read")["KmsKeyId"] == key_id


def test_server_errors_are_retried_by_botocore(moto: Moto, tmp_path: Path) -> None:
    store = make_store(moto, tmp_path)
    attempts = fail_next(store.client, "CreateSecret", status=503, times=2)
    payload = new_payload()

    store.put("ds-read", payload)

    assert len(attempts) == 3
    assert store.read_meta("ds-read") == payload.meta


def test_an_iam_policy_without_write_actions_refuses_the_write_with_a_clear_message(
    moto: Moto, tmp_path: Path
) -> None:
    """moto evaluates the actions of a caller's IAM policy (not resource ARNs: a policy limited
    to the prefix is documented in the README but cannot be proven here)."""
    prefix = unique_prefix()
    writer = make_store(moto, tmp_path, prefix=prefix)
    payload = new_payload()
    writer.put("ds-read", payload)
    read_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:ListSecrets",
                ],
                "Resource": "*",
            }
        ],
    }
    keys = moto.user_with_policy(read_only)
    env = moto.env(AWS_ACCESS_KEY_ID=keys["id"], AWS_SECRET_ACCESS_KEY=keys["secret"])
    reader = make_store(moto, tmp_path, prefix=prefix, env=env)

    with moto.iam_enforced():
        assert reader.read_meta("ds-read") == payload.meta
        with pytest.raises(StoreError) as refused:
            reader.put("ds-read", new_payload())

    message = str(refused.value)
    # The first write of a new version is its metadata, in the tags: refused, nothing is written.
    assert "AccessDenied" in message and "secretsmanager:TagResource" in message
    assert "IAM policy must allow" in message
    assert payload.payload.reveal() not in message
    assert writer.read_meta("ds-read") == payload.meta
    assert writer.read_value_hash("ds-read") == payload.meta.value_sha256


def test_without_a_region_the_message_says_where_to_set_one(tmp_path: Path) -> None:
    config = StoreConfig("aws", "aws", MappingProxyType({"prefix": "ppm/"}))
    with pytest.raises(StoreError, match=r"store 'aws' \(aws\): no AWS region"):
        open_aws_store(config, StoreContext(spec_dir=tmp_path, env={}))


def test_reserved_and_oversized_tags_are_refused_before_any_call(
    moto: Moto, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="'aws:'"):
        make_store(moto, tmp_path, tags={"aws:owner": "x"})
    with pytest.raises(StoreError, match="more than 255"):
        make_store(moto, tmp_path, tags={"team": "x" * 256})
    with pytest.raises(StoreError, match="at most 50"):
        make_store(moto, tmp_path, tags={f"t{i}": "x" for i in range(51)})


def test_an_error_code_from_the_wire_is_shown_escaped() -> None:
    """A proxy or endpoint answering in AWS's error shape chooses both fields: neither may
    carry terminal controls into a message."""
    error = ClientError(
        {"Error": {"Code": "Denied\x1b]0;owned\x07", "Message": "no\x1b[8m"}}, "PutSecretValue"
    )
    text = describe_error(error)
    assert "\x1b" not in text and "\x07" not in text
    assert text.startswith("Denied")


def test_read_payload_hands_back_the_awscurrent_version(moto: Moto, tmp_path: Path) -> None:
    """What a run reads its admin token from (server.auth)."""
    store = make_store(moto, tmp_path)
    assert store.read_payload("ppm-admin") is None
    first, second = new_payload(), new_payload()
    store.put("ppm-admin", first)
    store.put("ppm-admin", second)
    assert store.read_payload("ppm-admin") == second.payload
    store.restore_previous("ppm-admin", second.meta.token_guid)
    assert store.read_payload("ppm-admin") == first.payload


class _EndlessListing:
    """What answers at an `endpoint_url` a pull request chose: every page says there is more."""

    def __init__(self, repeat: bool) -> None:
        self.calls = 0
        self.repeat = repeat

    def list_secrets(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        token = "again" if self.repeat else f"page-{self.calls}"
        return {"SecretList": [{"Name": f"other/{self.calls}"}], "NextToken": token}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("repeat", "refused"),
    [(True, "gave the same NextToken twice"), (False, "more than 10,000 pages")],
    ids=["same-token", "new-tokens"],
)
def test_a_listing_that_never_ends_is_refused(repeat: bool, refused: str) -> None:
    client = _EndlessListing(repeat)
    with pytest.raises(StoreError, match=refused):
        AwsStore("aws", client, prefix="ppm/").read_meta_many(["ds-read"])
    assert client.calls <= 10_001
