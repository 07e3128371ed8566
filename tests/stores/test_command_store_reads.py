"""The command store's reads, restores, sweeps and deletes against real subprocesses."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from reconciler.desired.command_rules import PASSED_PREFIXES, PASSED_VARIABLES
from reconciler.errors import StoreError
from reconciler.secret import Secret
from reconciler.stores.base import SecretPayload
from tests.docs_pages import docs_section

from .command_harness import Harness


def test_read_command_reports_metadata(harness: Harness, payload: SecretPayload) -> None:
    harness.env["SCRIPT_MODE"] = "print-file"
    meta_file = harness.tmp_path / "meta-ds-read.json"
    store = harness.open(
        read_command=harness.argv("read", str(harness.tmp_path / "meta-{secret}.json"))
    )

    assert store.read_meta("ds-read") is None  # empty output: nothing stored
    meta_file.write_text(json.dumps(payload.meta.to_strings()))
    assert store.read_meta("ds-read") == payload.meta

    entry = harness.entries()[-1]
    assert entry["argv"] == ["read", str(meta_file)]
    assert entry["env"] == {"PPM_TOKENS_ACTION": "read-meta", "PPM_TOKENS_SECRET": "ds-read"}
    assert entry["stdin"] == ""


def test_the_state_dir_is_kept_beside_a_read_command(
    harness: Harness, payload: SecretPayload
) -> None:
    """What plan reads, since plan never runs the read_command."""
    state = harness.tmp_path / "state"
    store = harness.open(read_command=harness.argv("read"), state_dir=str(state))
    store.put("ds-read", payload)
    assert (state / "ds-read.meta.json").is_file()


def test_a_read_command_that_keeps_only_the_required_keys_is_completed_from_the_state_dir(
    harness: Harness, payload: SecretPayload
) -> None:
    """apply (read_command) and plan (state directory) must see the same promise: the format
    and the grace a rotation promised come from the state directory when the script leaves them
    out, and only for the token it reports."""
    promised = datetime(2026, 3, 4, 12, tzinfo=UTC)
    written = SecretPayload(
        payload.payload, replace(payload.meta, format="netrc", retire_previous_after=promised)
    )
    harness.env["SCRIPT_MODE"] = "print-file"
    state = harness.tmp_path / "state"
    meta_file = harness.tmp_path / "meta-ds-read.json"
    store = harness.open(read_command=harness.argv("read", str(meta_file)), state_dir=str(state))
    store.put("ds-read", written)
    put_env = harness.entries()[-1]["env"]
    assert isinstance(put_env, dict)
    assert put_env["PPM_TOKENS_FORMAT"] == "netrc"
    assert put_env["PPM_TOKENS_RETIRE_PREVIOUS_AFTER"] == promised.isoformat()

    required = ("token_guid", "name", "namespace", "created", "expires", "scope")
    meta_file.write_text(json.dumps({k: written.meta.to_strings()[k] for k in required}))
    assert store.read_meta("ds-read") == written.meta

    other = {**written.meta.to_strings(), "token_guid": "another-guid"}
    meta_file.write_text(json.dumps({k: other[k] for k in required}))
    reported = store.read_meta("ds-read")
    assert reported is not None and reported.token_guid == "another-guid"
    assert reported.format is None and reported.retire_previous_after is None


def test_without_leave_to_run_commands_the_read_command_never_runs(
    harness: Harness, payload: SecretPayload
) -> None:
    """A read_command that would create a file: opened for plan, the store reads its state
    directory instead, and the file is never created."""
    harness.env["SCRIPT_MODE"] = "print-file"
    marker = harness.tmp_path / "ran"
    read = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('x')"]
    state = harness.tmp_path / "state"
    harness.open(state_dir=str(state)).put("ds-read", payload)

    store = harness.open(read_command=read, state_dir=str(state), run_read_commands=False)

    assert store.read_meta("ds-read") == payload.meta
    assert store.read_meta_many(["ds-read", "other"]) == {"ds-read": payload.meta, "other": None}
    assert not marker.exists()
    harness.open(read_command=read, state_dir=str(state)).read_meta("ds-read")
    assert marker.exists()  # the same store opened for apply runs it


def test_a_write_that_landed_cannot_be_restored(harness: Harness, payload: SecretPayload) -> None:
    """The program took the value: whatever read_command claims, it cannot be taken back."""
    harness.env["SCRIPT_MODE"] = "print-file"
    (harness.tmp_path / "out").write_text("")  # the read_command says nothing is stored
    store = harness.open(read_command=harness.argv(str(harness.tmp_path / "out")))
    assert store.capabilities.restorable is False

    store.put("ds-read", payload)

    assert store.read_meta("ds-read") is None
    assert store.restore_previous("ds-read", payload.meta.token_guid) is False
    # A later process knows it from the state directory.
    later = harness.open(read_command=harness.argv(str(harness.tmp_path / "out")))
    assert later.restore_previous("ds-read", payload.meta.token_guid) is False


def test_a_write_that_failed_has_nothing_to_restore(
    harness: Harness, payload: SecretPayload
) -> None:
    harness.env["SCRIPT_MODE"] = "fail"
    store = harness.open()
    with pytest.raises(StoreError):
        store.put("ds-read", payload)

    assert store.restore_previous("ds-read", payload.meta.token_guid) is True


def test_sweep_removes_temporary_files_from_the_state_dir(
    harness: Harness, payload: SecretPayload
) -> None:
    """Only the temporary files of the declared keys' own sidecars: the state directory may
    keep what an undeclared key's interrupted write left, which this run cannot vouch for."""
    state = harness.tmp_path / "state"
    store = harness.open(state_dir=str(state))
    store.put("ppm/ds-read", payload)
    (state / "ppm" / ".ds-read.meta.json.x1y2.tmp").write_text("{}")
    (state / "ppm" / ".other.meta.json.x1y2.tmp").write_text("{}")

    (removed,) = store.sweep(["ppm/ds-read"])

    assert "ppm/.ds-read.meta.json.x1y2.tmp" in removed
    assert sorted(p.name for p in (state / "ppm").iterdir()) == [
        ".other.meta.json.x1y2.tmp",
        "ds-read.meta.json",
    ]
    assert store.sweep(["ppm/ds-read"]) == ()


@pytest.mark.parametrize(
    "output", ["not json", "[1, 2]", '{"token_guid": "x"}', "[" * 200_000], ids=str.__len__
)
def test_read_command_printing_something_else_is_an_error(harness: Harness, output: str) -> None:
    harness.env["SCRIPT_MODE"] = "print-file"
    (harness.tmp_path / "out").write_text(output)
    store = harness.open(read_command=harness.argv(str(harness.tmp_path / "out")))

    with pytest.raises(StoreError, match="read_command printed something that is not"):
        store.read_meta("ds-read")


def test_delete_runs_delete_command_and_drops_the_sidecar(
    harness: Harness, payload: SecretPayload
) -> None:
    state = harness.tmp_path / "state"
    store = harness.open(delete_command=harness.argv("delete", "{secret}"), state_dir=str(state))
    store.put("ds-read", payload)

    store.delete("ds-read")

    entry = harness.entries()[-1]
    assert entry["argv"] == ["delete", "ds-read"]
    assert entry["env"] == {"PPM_TOKENS_ACTION": "delete", "PPM_TOKENS_SECRET": "ds-read"}
    assert store.read_meta("ds-read") is None


def test_delete_without_delete_command_is_refused(harness: Harness) -> None:
    with pytest.raises(StoreError, match="has no delete_command"):
        harness.open().delete("ds-read")
    assert harness.entries() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"command": []}, "'command' must be a non-empty list"),
        ({"command": "op item edit"}, "'command' must be a non-empty list"),
        ({"read_command": ["op", "{name}"]}, "read_command cannot use {name}"),
        ({"delete_command": ["op", "--x={name}"]}, "delete_command cannot use {name}"),
        ({"timeout": 0}, "'timeout' must be a positive number"),
        ({"timeout": True}, "'timeout' must be a positive number"),
        ({"state_dir": ""}, "'state_dir' must be a path"),
    ],
)
def test_bad_options_are_refused_at_open(
    harness: Harness, options: Mapping[str, object], message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        harness.open(**options)


def test_a_put_that_never_finishes_leaves_no_metadata_of_the_old_token(
    harness: Harness, payload: SecretPayload
) -> None:
    """The program may hold the new value once it started: the state directory must not keep
    naming the old token, or the next run would retire the new one as an orphan while the
    program hands its value out. A program that said it failed keeps the old metadata."""
    state = str(harness.tmp_path / "state")
    harness.open(state_dir=state).put("ds-read", payload)
    new = SecretPayload(
        Secret("eyJuZXcifQ.eyJuZXcifQ.bmV3"),
        replace(payload.meta, token_guid="new-guid", value_sha256=None),
    )

    harness.env["SCRIPT_MODE"] = "fail"
    failed = harness.open(state_dir=state)
    with pytest.raises(StoreError, match="status 3"):
        failed.put("ds-read", new)
    assert failed.read_meta("ds-read") == payload.meta
    assert failed.restore_previous("ds-read", "new-guid") is True

    harness.env["SCRIPT_MODE"] = "sleep"
    hung = harness.open(state_dir=state, timeout=0.5)
    with pytest.raises(StoreError, match="did not finish"):
        hung.put("ds-read", new)
    assert hung.read_meta("ds-read") is None
    assert hung.restore_previous("ds-read", "new-guid") is False

    def killed(*args: object, **kwargs: object) -> object:
        raise SystemExit("killed while the program runs")

    harness.env["SCRIPT_MODE"] = ""
    harness.open(state_dir=state).put("ds-read", payload)
    dying = harness.open(state_dir=state)
    dying._run_process = killed
    with pytest.raises(SystemExit):
        dying.put("ds-read", new)
    assert harness.open(state_dir=state).read_meta("ds-read") is None


def test_the_readme_names_every_variable_a_put_sets_and_every_metadata_key(
    harness: Harness, payload: SecretPayload
) -> None:
    """Whoever writes a script for this store has the "Command stores" section of the guide
    (docs/stores.md) only: its variables and read_command keys must be the real ones, all of
    them."""
    section = docs_section("stores.md", "## Command stores")
    documented = {
        name if name.startswith("PPM_TOKENS_") else "PPM_TOKENS" + name
        for name in re.findall(r"`(PPM_TOKENS_[A-Z0-9_]+|_[A-Z0-9_]+)`", section)
    }
    promised = datetime(2026, 3, 4, 12, tzinfo=UTC)
    written = SecretPayload(
        payload.payload, replace(payload.meta, format="netrc", retire_previous_after=promised)
    )
    harness.open().put("ds-read", written)
    put_env = harness.entries()[-1]["env"]
    assert isinstance(put_env, dict)
    assert documented == set(put_env)

    keys = re.search(r"JSON object\s+with (.*?)\(optionally (.*?)\)", section, re.S)
    assert keys is not None
    named = set(re.findall(r"`([a-z_0-9]+)`", keys[1] + keys[2])) - {"never"}  # a value
    assert named == set(written.meta.to_strings())


def test_read_value_command_prints_the_stored_value(
    harness: Harness, payload: SecretPayload
) -> None:
    harness.env["SCRIPT_MODE"] = "print-file"
    value_file = harness.tmp_path / "value-ppm-admin"
    read_value = harness.argv("value", str(harness.tmp_path / "value-{secret}"))
    store = harness.open(read_value_command=read_value)

    assert store.read_payload("ppm-admin") is None  # empty output: nothing stored
    value_file.write_text(payload.payload.reveal() + "\n")
    assert store.read_payload("ppm-admin") == payload.payload
    entry = harness.entries()[-1]
    assert entry["env"] == {"PPM_TOKENS_ACTION": "read-value", "PPM_TOKENS_SECRET": "ppm-admin"}
    assert entry["admin_token_visible"] is False

    with pytest.raises(StoreError, match="this command runs none"):
        harness.open(read_value_command=read_value, run_read_commands=False).read_payload("x")
    with pytest.raises(StoreError, match="has no read_value_command"):
        harness.open().read_payload("ppm-admin")


def test_the_readme_names_exactly_the_variables_a_program_gets() -> None:
    section = docs_section("stores.md", "## Command stores")
    listed = section.split("only these variables from the caller's environment:", 1)[1]
    listed = listed.split(";", 1)[0]
    named = set(re.findall(r"`([A-Za-z_]+\*?)`", listed))
    assert named == PASSED_VARIABLES | {prefix + "*" for prefix in PASSED_PREFIXES}
