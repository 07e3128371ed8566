"""The command store against real subprocesses: a small Python script stands in for `op`."""

from __future__ import annotations

import json
import stat
import time
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from reconciler.secret import Secret
from reconciler.stores.base import SecretPayload

from .command_harness import Harness
from .conftest import VALUE


def test_put_sends_the_payload_on_stdin_and_metadata_in_the_environment(
    harness: Harness, payload: SecretPayload
) -> None:
    harness.open().put("ppm/ds-read", payload)

    (entry,) = harness.entries()
    assert entry["stdin"] == VALUE
    assert entry["argv"] == ["item", "edit", "ppm/ds-read", "--name=ds-read"]
    assert entry["admin_token_visible"] is False
    meta = payload.meta
    assert entry["env"] == {
        "PPM_TOKENS_ACTION": "put",
        "PPM_TOKENS_SECRET": "ppm/ds-read",
        "PPM_TOKENS_GUID": meta.token_guid,
        "PPM_TOKENS_NAME": "ds-read",
        "PPM_TOKENS_NAMESPACE": "data-platform",
        "PPM_TOKENS_CREATED": "2027-03-01T12:00:00+00:00",
        "PPM_TOKENS_EXPIRES": "2027-05-30T12:00:00+00:00",
        "PPM_TOKENS_SCOPE": "repos:read",
        "PPM_TOKENS_SHA256": payload.payload.sha256(),
    }


def test_every_program_gets_the_allow_listed_variables_and_its_env_names_only(
    harness: Harness, payload: SecretPayload
) -> None:
    """Built from an allow-list, not from the caller's environment minus a name: the admin
    token under whatever variable the spec names, another store's credentials and anything
    else the job holds stay out of every program the store runs."""
    harness.env.update(
        {
            "PPM_EU_TOKEN": "admin-token-of-another-variable",
            "LC_PPM_TOKEN": "admin-token-under-a-locale-like-name",
            "VAULT_TOKEN": "a-vault-token-nobody-asked-for",
            "GITHUB_TOKEN": "a-github-token-nobody-asked-for",
            "LC_ALL": "C.UTF-8",
            "HTTPS_PROXY": "http://proxy.example.com:3128",
            "OP_SERVICE_ACCOUNT_TOKEN": "the-one-op-needs",
        }
    )
    store = harness.open(
        env=["RECORD_FILE", "OP_SERVICE_ACCOUNT_TOKEN"],
        withheld=frozenset({"PACKAGEMANAGER_TOKEN", "PPM_EU_TOKEN", "LC_PPM_TOKEN"}),
        read_command=harness.argv("read", "{secret}"),
        delete_command=harness.argv("delete", "{secret}"),
    )

    store.put("ds-read", payload)
    store.read_meta("ds-read")
    store.delete("ds-read")

    expected = {"PATH", "HOME", "LC_ALL", "HTTPS_PROXY", "RECORD_FILE", "OP_SERVICE_ACCOUNT_TOKEN"}
    entries = harness.entries()
    assert [entry["argv"][0] for entry in entries] == ["item", "read", "delete"]  # type: ignore[index]
    for entry in entries:
        names = entry["names"]
        assert isinstance(names, list)
        assert {n for n in names if not n.startswith("PPM_TOKENS_")} == expected


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("PACKAGEMANAGER_TOKEN", "holds a PPM global:admin token"),
        ("PPM_EU_TOKEN", "holds a PPM global:admin token"),
        ("PPM_TOKENS_GUID", "starts with PPM_TOKENS_, which the store sets itself"),
        ("NOT-A-NAME", "is not the name of an environment variable"),
    ],
)
def test_env_never_names_an_admin_token_variable(
    harness: Harness, variable: str, message: str
) -> None:
    withheld = frozenset({"PACKAGEMANAGER_TOKEN", "PPM_EU_TOKEN"})
    with pytest.raises(StoreError, match=f"env '{variable}' {message}"):
        harness.open(env=[variable], withheld=withheld)


def test_never_expiring_token_says_never(harness: Harness, payload: SecretPayload) -> None:
    never = SecretPayload(payload.payload, replace(payload.meta, expires=None))
    harness.open().put("ds-read", never)
    assert harness.entries()[0]["env"]["PPM_TOKENS_EXPIRES"] == "never"  # type: ignore[index]


def test_arguments_are_passed_literally_without_a_shell(
    harness: Harness, payload: SecretPayload, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(harness.tmp_path)
    key = "ds-read; touch pwned; rm -rf $HOME `touch pwned2` $(touch pwned3) {name}"

    harness.open().put(key, payload)

    (entry,) = harness.entries()
    # The {name} inside the key stays literal: placeholders are substituted in one pass.
    assert entry["argv"] == ["item", "edit", key, "--name=ds-read"]
    assert not any((harness.tmp_path / f).exists() for f in ("pwned", "pwned2", "pwned3"))


def test_non_zero_exit_is_a_store_error_with_stderr_and_no_value(
    harness: Harness, payload: SecretPayload
) -> None:
    harness.env["SCRIPT_MODE"] = "fail"

    with pytest.raises(StoreError) as caught:
        harness.open().put("ds-read", payload)

    message = str(caught.value)
    assert message.startswith("store 'op': put of 'ds-read': ")
    assert "exited with status 3: vault sealed while writing (sensitive value)" in message
    assert VALUE not in message


def test_the_token_inside_a_json_payload_is_redacted_from_stderr(
    harness: Harness, payload: SecretPayload
) -> None:
    harness.env["SCRIPT_MODE"] = "fail-token-only"
    document = Secret(json.dumps({"token": "tok-" + "x" * 40, "guid": "g"}))

    with pytest.raises(StoreError, match=r"status 4: bad token \(sensitive value\)") as caught:
        harness.open().put("ds-read", SecretPayload(document, payload.meta))
    assert "x" * 40 not in str(caught.value)


def test_stderr_is_cut_at_500_characters(harness: Harness, payload: SecretPayload) -> None:
    harness.env["SCRIPT_MODE"] = "noisy"

    with pytest.raises(StoreError) as caught:
        harness.open().put("ds-read", payload)

    assert str(caught.value).endswith("status 3: " + "e" * 500)


def test_a_command_that_hangs_times_out(harness: Harness, payload: SecretPayload) -> None:
    harness.env["SCRIPT_MODE"] = "sleep"
    store = harness.open(timeout=0.5)

    started = time.monotonic()
    with pytest.raises(StoreError, match=r"did not finish within 0.5 s"):
        store.put("ds-read", payload)
    assert time.monotonic() - started < 10


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_program_printing_without_end_is_stopped_at_the_bound(
    harness: Harness, payload: SecretPayload, stream: str
) -> None:
    """What a program prints is kept until it exits: one that prints without end would fill
    memory before its deadline. It is stopped at 1 MiB, and a put stopped so may have
    stored the value (as one stopped at its deadline)."""
    harness.env["SCRIPT_MODE"] = f"endless-{stream}"
    store = harness.open(timeout=30)

    started = time.monotonic()
    with pytest.raises(StoreError, match=f"printed more than 1,048,576 bytes on {stream}"):
        store.put("ds-read", payload)
    assert time.monotonic() - started < 20
    [entry] = harness.entries()
    assert entry["stdin"] == VALUE  # the payload still reached it whole


def test_a_missing_program_is_a_store_error(harness: Harness, payload: SecretPayload) -> None:
    store = harness.open(command=[str(harness.tmp_path / "no-such-op"), "{secret}"])
    with pytest.raises(StoreError, match="was not found"):
        store.put("ds-read", payload)


def test_without_read_command_metadata_lives_in_the_state_dir(
    harness: Harness, payload: SecretPayload
) -> None:
    state = harness.tmp_path / "state"
    harness.open(state_dir=str(state)).put("ppm/ds-read", payload)

    # A later run (a new store object) sees what the earlier one wrote.
    again = harness.open(state_dir=str(state))
    assert again.read_meta("ppm/ds-read") == payload.meta
    assert again.read_meta("ppm/other") is None
    assert again.read_value_hash("ppm/ds-read") is None
    sidecar = state / "ppm" / "ds-read.meta.json"
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    assert VALUE not in sidecar.read_text()


def test_failed_put_writes_no_metadata(harness: Harness, payload: SecretPayload) -> None:
    harness.env["SCRIPT_MODE"] = "fail"
    store = harness.open(state_dir=str(harness.tmp_path / "state"))

    with pytest.raises(StoreError):
        store.put("ds-read", payload)
    assert store.read_meta("ds-read") is None


def test_default_state_dir_is_under_home(harness: Harness, payload: SecretPayload) -> None:
    harness.open().put("ds-read", payload)
    expected = Path(harness.env["HOME"]) / ".local/state/ppm-tokens/op/ds-read.meta.json"
    assert expected.is_file()


def test_xdg_state_home_is_honoured(harness: Harness, payload: SecretPayload) -> None:
    harness.env["XDG_STATE_HOME"] = str(harness.tmp_path / "xdg")
    harness.open().put("ds-read", payload)
    assert (harness.tmp_path / "xdg/ppm-tokens/op/ds-read.meta.json").is_file()
