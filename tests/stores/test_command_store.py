"""The command store against real subprocesses: a small Python script stands in for `op`."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import pytest

from reconciler.desired.command_rules import PASSED_PREFIXES, PASSED_VARIABLES
from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError
from reconciler.secret import Secret
from reconciler.stores.base import SecretPayload
from reconciler.stores.command import CommandStore, open_command_store
from reconciler.stores.registry import StoreContext
from tests.docs_pages import docs_section

from .conftest import VALUE

SCRIPT = """
import json, os, sys, time
entry = {
    "argv": sys.argv[1:],
    "stdin": sys.stdin.read(),
    "env": {k: v for k, v in os.environ.items() if k.startswith("PPM_TOKENS_")},
    "admin_token_visible": "PACKAGEMANAGER_TOKEN" in os.environ,
    "names": sorted(os.environ),
}
with open(os.environ["RECORD_FILE"], "a") as record:
    record.write(json.dumps(entry) + "\\n")
mode = os.environ.get("SCRIPT_MODE", "")
if mode == "fail":
    sys.stderr.write("vault sealed while writing " + entry["stdin"])
    sys.exit(3)
if mode == "fail-token-only":
    sys.stderr.write("bad token " + json.loads(entry["stdin"])["token"])
    sys.exit(4)
if mode == "noisy":
    sys.stderr.write("e" * 2000)
    sys.exit(3)
if mode == "sleep":
    time.sleep(30)
if mode in ("endless-stdout", "endless-stderr"):
    stream = sys.stdout if mode == "endless-stdout" else sys.stderr
    while True:
        stream.write("x" * 65536)
        stream.flush()
if mode == "print-file":
    path = sys.argv[-1]
    if os.path.exists(path):
        sys.stdout.write(open(path).read())
"""


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.script = tmp_path / "fake_op.py"
        self.script.write_text(SCRIPT)
        self.record = tmp_path / "record.jsonl"
        self.env: dict[str, str] = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path / "home"),
            "RECORD_FILE": str(self.record),
            "PACKAGEMANAGER_TOKEN": "admin-token-never-passed-on",
        }

    def argv(self, *extra: str) -> list[str]:
        return [sys.executable, str(self.script), *extra]

    def open(
        self,
        *,
        run_read_commands: bool = True,
        withheld: frozenset[str] = StoreContext.withheld,
        **options: object,
    ) -> CommandStore:
        options.setdefault("command", self.argv("item", "edit", "{secret}", "--name={name}"))
        options.setdefault("env", ["RECORD_FILE", "SCRIPT_MODE"])  # what the script reads
        config = StoreConfig("op", "command", MappingProxyType(options))
        context = StoreContext(
            spec_dir=self.tmp_path,
            env=self.env,
            run_read_commands=run_read_commands,
            withheld=withheld,
        )
        return open_command_store(config, context)

    def entries(self) -> list[dict[str, object]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


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
