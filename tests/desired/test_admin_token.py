"""The admin token a spec's runs use (server.auth.token): its own built-ins, never `defaults:`,
and where the admin token is read from."""

from __future__ import annotations

from datetime import timedelta

from reconciler.desired.model import Rotation, SecretFormat, StoredAdminToken
from reconciler.durations import Expiry

from .helpers import EXAMPLES, NOW, check


def test_the_admin_token_takes_its_own_built_ins_not_the_defaults() -> None:
    text = (EXAMPLES / "valid" / "admin_token_rotates_itself.yaml").read_text()
    spec, problems = check(text)
    assert spec is not None, [p.render() for p in problems]
    admin, reader = spec.self_token, spec.token("ds-read")
    assert admin is not None and reader is not None
    assert admin.expires == Expiry(lifetime=timedelta(days=7))
    assert admin.rotation == Rotation(after=timedelta(days=1), grace=timedelta(hours=1))
    assert admin.format is SecretFormat.RAW
    assert admin.store == "ci"  # the store still comes from defaults
    # The consumer's token keeps the defaults.
    assert reader.expires == Expiry(lifetime=timedelta(days=90))
    assert reader.rotation.before_expiry == timedelta(days=14)
    assert reader.format is SecretFormat.JSON
    assert spec.admin_store() == StoredAdminToken("ci", "PACKAGEMANAGER_TOKEN")


def test_the_admin_tokens_own_settings_win_over_its_built_ins() -> None:
    text = (EXAMPLES / "valid" / "admin_token_rotates_itself.yaml").read_text()
    text = text.replace(
        "    secret: PACKAGEMANAGER_TOKEN\n",
        "    secret: PACKAGEMANAGER_TOKEN\n    expires: 3d\n    rotation: {grace: 2h}\n",
    )
    spec, problems = check(text)
    assert spec is not None and spec.self_token is not None, [p.render() for p in problems]
    assert spec.self_token.expires == Expiry(lifetime=timedelta(days=3))
    assert spec.self_token.rotation.grace == timedelta(hours=2)
    assert spec.self_token.rotation.after == timedelta(days=1)


def test_a_spec_reading_the_admin_token_from_a_store_rotates_none() -> None:
    text = (EXAMPLES / "valid" / "admin_token_read_from_a_store.yaml").read_text()
    spec, problems = check(text, now=NOW)
    assert spec is not None, [p.render() for p in problems]
    assert spec.self_token is None
    assert spec.admin_store() == StoredAdminToken("admin", "ppm-admin")
