"""`ppm-tokens list` and `show` against the emulator: every filter, sort order, column and
format; case-insensitive search; active tokens first; hostile text escaped."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.ops.listing import Column
from reconciler.server.http import HttpDriver
from reconciler.server.model import LiveToken
from tests.e2e.conftest import Cli, Run, write_spec
from tests.e2e.test_crash import KILLPOINT
from tests.e2e.test_invariants import THREE_TOKENS, managed, stored_meta
from tests.e2e.test_terminal import run_on_terminal
from tests.ops.seed import HOSTILE, HOSTILE_GUID, Seed, insert_with_guid, seed, utc_now

FAKE_RSPM = Path(__file__).resolve().parents[1] / "fakes" / "rspm"

SEEDS = [
    Seed("alpha", "alpha build", user="Build@Example.com", age=timedelta(days=10)),
    Seed("beta", "Beta Readers", user="reader@example.com", age=timedelta(days=20), lifetime=None),
    Seed("gamma", "gamma (revoked)", age=timedelta(days=5), revoke=True),
    Seed("delta", "delta expired", age=timedelta(days=40), lifetime=timedelta(days=30)),
    Seed("epsilon", "=HYPERLINK(evil)", user="+cmd@example.com", age=timedelta(days=30)),
    Seed("hostile", HOSTILE, user="mallory@example.com", age=timedelta(days=15)),
]


@pytest.fixture
def tokens(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> dict[str, LiveToken]:
    seeded = seed(emulator_control, http_driver, SEEDS, now=utc_now())
    emulator_control.reset_clock()
    admin = next(t for t in http_driver.list_tokens() if t.guid == http_driver.self_guid())
    return {**seeded, "admin": admin}


def listed(cli: Cli, *args: str) -> list[dict[str, object]]:
    run = cli("list", "--format", "json", *args)
    assert run.code == 0, run.stderr
    records: list[dict[str, object]] = json.loads(run.stdout)
    return records


def guids(cli: Cli, *args: str) -> list[object]:
    return [r["id"] for r in listed(cli, *args)]


def test_status_filters(cli: Cli, tokens: dict[str, LiveToken]) -> None:
    active = {tokens[k].guid for k in ("alpha", "beta", "epsilon", "hostile", "admin")}
    assert set(guids(cli, "--status", "active")) == active
    assert guids(cli, "--status", "revoked") == [tokens["gamma"].guid]
    assert guids(cli, "--status", "expired") == [tokens["delta"].guid]
    assert len(guids(cli, "--status", "all")) == len(tokens)


def test_expiration_filters(cli: Cli, tokens: dict[str, LiveToken]) -> None:
    assert set(guids(cli, "--expiration", "never")) == {tokens["beta"].guid, tokens["admin"].guid}
    has = {tokens[k].guid for k in ("alpha", "gamma", "epsilon", "hostile")}
    assert set(guids(cli, "--expiration", "has")) == has  # a future expiry, revoked or not
    assert guids(cli, "--expiration", "expired") == [tokens["delta"].guid]


def test_search_is_case_insensitive_over_name_description_and_user(
    cli: Cli, tokens: dict[str, LiveToken]
) -> None:
    assert guids(cli, "--search", "BETA readers") == [tokens["beta"].guid]
    assert guids(cli, "--search", "build@EXAMPLE") == [tokens["alpha"].guid]
    assert guids(cli, "--search", "no such thing") == []


def test_sort_orders_put_active_tokens_first(cli: Cli, tokens: dict[str, LiveToken]) -> None:
    inactive = [tokens["gamma"].guid, tokens["delta"].guid]
    newest = guids(cli, "--sort", "newest")
    assert newest[-2:] == inactive  # newest first among the inactive ones too
    assert newest[:5] == [tokens[k].guid for k in ("admin", "alpha", "hostile", "beta", "epsilon")]
    oldest = guids(cli, "--sort", "oldest")
    assert oldest[:5] == list(reversed(newest[:5]))
    assert oldest[-2:] == list(reversed(inactive))
    by_name = [r["name"] for r in listed(cli, "--sort", "name")]
    active_names = by_name[:5]
    assert active_names == sorted(active_names, key=str.casefold)
    assert by_name[5:] == ["delta expired", "gamma (revoked)"]
    descending = [r["name"] for r in listed(cli, "--sort", "-name")]
    assert descending[:5] == list(reversed(active_names))
    assert descending[5:] == ["gamma (revoked)", "delta expired"]


def test_every_column_in_json_and_csv(cli: Cli, tokens: dict[str, LiveToken]) -> None:
    records = listed(cli, "--search", "alpha")
    assert set(records[0]) == {c.key for c in Column}
    alpha = tokens["alpha"]
    assert records[0]["id"] == alpha.guid
    assert records[0]["resources"] == ["pypi"]
    assert records[0]["expires"] is not None and records[0]["managed_by"] is None
    chosen = listed(cli, "--columns", "name,id,managed-by,rotation-due")
    assert all(list(r) == ["name", "id", "managed_by", "rotation_due"] for r in chosen)

    run = cli("list", "--format", "csv", "--columns", ",".join(c.value for c in Column))
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert len(rows) == len(tokens)
    by_id = {r["id"]: r for r in rows}
    # Spreadsheet formulas are defused; control characters shown escaped.
    assert by_id[tokens["epsilon"].guid]["name"] == "'=HYPERLINK(evil)"
    assert by_id[tokens["epsilon"].guid]["user"] == "'+cmd@example.com"
    hostile = by_id[tokens["hostile"].guid]["description"]
    assert "\x1b" not in run.stdout and "\u202e" not in run.stdout and "\r" not in run.stdout
    assert hostile.startswith("evil\\x1b[2J")


def test_unknown_column_is_a_usage_error(cli: Cli) -> None:
    run = cli("list", "--columns", "name,rotation")
    assert run.code == 1
    assert "unknown column 'rotation' (did you mean 'rotation-due'?)" in run.stderr


def test_table_fits_the_terminal_and_escapes(cli: Cli, tokens: dict[str, LiveToken]) -> None:
    # Piped, the table is never cut, whatever $COLUMNS says (shells export it to children).
    wide = cli("list", COLUMNS="70")
    assert wide.code == 0, wide.stderr
    assert "\x1b" not in wide.stdout and "\u202e" not in wide.stdout and "\r" not in wide.stdout
    assert f"{len(tokens)} of {len(tokens)} tokens" in wide.stderr
    assert "…" not in wide.stdout
    assert max(len(line) for line in wide.stdout.splitlines()) > 70
    # On a terminal it fits $COLUMNS, cutting cells.
    code, screen = run_on_terminal(cli, ["list"], None, COLUMNS="70", NO_COLOR="1")
    assert code == 0, screen
    rows = screen.replace("\r\n", "\n").splitlines()
    assert f"{len(tokens)} of {len(tokens)} tokens" in screen
    assert max(len(line) for line in rows) <= 70
    assert "…" in screen
    assert "\x1b" not in screen and "\u202e" not in screen
    header = wide.stdout.splitlines()[0].split()
    assert header == ["NAME", "ID", "STATUS", "SCOPE", "CREATED", "EXPIRES", "USER", "MANAGED-BY"]
    assert tokens["alpha"].guid in wide.stdout
    assert "evil\\x1b[2J" in wide.stdout
    # Every row is one line: CR/LF in a description cannot forge another.
    assert len(wide.stdout.splitlines()) == len(tokens) + 1


def test_managed_tokens_show_owner_and_rotation(cli: Cli, http_driver: HttpDriver) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    records = {r["name"]: r for r in listed(cli, "--status", "active")}  # tokens.yaml found
    ds_read = records["ds-read"]
    assert ds_read["managed_by"] == "e2e/ds-read"
    assert ds_read["description"] == "Read access for data science"
    created = str(ds_read["created"])[:10]
    assert str(ds_read["rotation_due"]) > created  # rotation.after 60d from creation
    assert records["emulator bootstrap admin"]["rotation_due"] is None

    show = cli("show", "ds-read")
    assert show.code == 0, show.stderr
    fields = {
        line[:19].strip(): line[19:] for line in show.stdout.splitlines() if line.startswith("  ")
    }
    assert fields["Marker"] == "[ppm-tokens:e2e/ds-read]"
    assert fields["Store"] == "local (file), secret 'ds-read': holds this token"
    assert fields["Rotation policy"] == "after 60d, before_expiry 14d, grace 3d"
    assert "Rotates" in show.stdout and "Retires" in show.stdout
    assert "Next apply" in show.stdout and "noop: up to date" in show.stdout
    assert f"tokens.yaml:{1 + spec.read_text().splitlines().index('  - name: ds-read')}" in (
        show.stdout
    )


def test_show_lists_generations_and_escapes(
    cli: Cli, tokens: dict[str, LiveToken], emulator_control: EmulatorControl
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    assert cli("apply", "-f", str(spec), "--auto-approve", "--rotate", "ds-read").code == 0
    run = cli("show", "e2e/ds-read")
    assert run.code == 0, run.stderr
    assert "Generations of e2e/ds-read (newest first):" in run.stdout
    assert "current" in run.stdout and "retiring" in run.stdout
    hostile = cli("show", tokens["hostile"].guid[:8])
    assert hostile.code == 0
    assert "\x1b" not in hostile.stdout and "\r" not in hostile.stdout
    assert "none: unmanaged" in hostile.stdout
    missing = cli("show", "no-such-token")
    assert missing.code == 1 and "no token has the GUID, name or description" in missing.stderr


def test_a_guid_with_control_characters_is_shown_escaped(cli: Cli) -> None:
    insert_with_guid(cli.emulator, HOSTILE_GUID, "Odd guid")
    for args in (("list",), ("list", "--format", "csv"), ("show", "Odd guid")):
        run = cli(*args, COLUMNS="300")  # wide enough for the whole GUID
        assert run.code == 0, run.stderr
        assert "\x1b" not in run.stdout + run.stderr, args
        assert "deadbeef-\\x1b]0;pwned" in run.stdout, args


@pytest.mark.parametrize("shape", ["plain", "epoch"])
def test_list_through_the_rspm_cli_matches_http(
    cli: Cli, tokens: dict[str, LiveToken], shape: str
) -> None:
    """The same filters, sort and columns through PPM's documented CLI, whatever JSON shape its
    `list tokens -o json` prints."""
    columns = ",".join(c.value for c in Column)
    for args in (
        ("--status", "all", "--sort", "name"),
        ("--status", "active", "--expiration", "has", "--search", "EXAMPLE.COM"),
        ("--status", "all", "--sort", "oldest", "--expiration", "expired"),
    ):
        http = cli("list", "--format", "json", "--columns", columns, *args)
        rspm = cli(
            "list",
            "--format",
            "json",
            "--columns",
            columns,
            *args,
            "--driver",
            "rspm",
            "--rspm",
            str(FAKE_RSPM),
            FAKE_RSPM_LIST_SHAPE=shape,
        )
        assert http.code == 0 and rspm.code == 0, http.stderr + rspm.stderr
        assert to_seconds(rspm.stdout) == to_seconds(http.stdout), args
        assert json.loads(http.stdout), args


def to_seconds(listing: str) -> list[dict[str, object]]:
    """The records with times to the second: the epoch shape carries no fractions."""
    records: list[dict[str, object]] = json.loads(re.sub(r"\.\d+Z", "Z", listing))
    return records


def test_show_runs_a_read_command_only_with_store_commands(cli: Cli) -> None:
    piped = (
        "  piped:\n    type: command\n    command: [sh, -c, 'cat > /dev/null']\n"
        "    read_command: [sh, -c, 'echo refused >&2; exit 7']\n"
        f"    state_dir: {cli.workdir / 'state'}\n"
    )
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    # The spec moves the token to a store whose read_command fails: only running it says so.
    text = spec.read_text().replace("tokens:\n", piped + "tokens:\n", 1)
    spec.write_text(text.replace("  - name: uploader\n", "  - name: uploader\n    store: piped\n"))
    safe = cli("show", "uploader")
    assert safe.code == 0, safe.stderr
    assert "piped (command), secret 'uploader': not read (not read: its read_command runs only" in (
        safe.stdout
    )
    ran = cli("show", "uploader", "--store-commands")
    assert ran.code == 0, ran.stderr
    store_line = next(line for line in ran.stdout.splitlines() if line.startswith("  Store "))
    assert "piped (command), secret 'uploader': not read (" in store_line
    assert "exited with status 7: refused" in store_line


def test_after_a_run_killed_between_create_and_store_every_view_names_the_stored_token(
    cli: Cli, http_driver: HttpDriver
) -> None:
    """kill -9 of an apply after it created a rotation's token and before it stored it: the
    store still hands out the old token. list, show and plan all call that one current (they
    ask one function) and the newer token, which nobody holds, retiring."""
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    held = stored_meta(cli, "ds-read")["token_guid"]
    args = ("apply", "-f", str(spec), "--auto-approve", "--rotate", "ds-read")
    killed = subprocess.run(
        [sys.executable, str(KILLPOINT), *args],
        cwd=cli.workdir,
        env=cli.env(PPM_TOKENS_KILL_AT="after-create:ds-read"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    cli.runs.append(Run(args, killed.returncode, killed.stdout, killed.stderr))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (orphan,) = {t.guid for t in managed(http_driver)["ds-read"]} - {held}

    rows = {r["id"]: r for r in listed(cli, "-f", str(spec), "--search", "ds-read")}
    assert rows[held]["rotation_due"] is not None  # current: it rotates
    assert rows[orphan]["rotation_due"] is None and rows[orphan]["retires"] is not None
    show = cli("show", "ds-read", "-f", str(spec))
    assert show.code == 0, show.stderr
    assert re.search(rf"^  GUID +{held}$", show.stdout, flags=re.M)
    assert re.search(rf"^ \* {held}  current ", show.stdout, flags=re.M)
    assert re.search(rf"^   {orphan}  retiring ", show.stdout, flags=re.M)
    plan = cli("plan", "-f", str(spec))
    assert re.search(rf"retire +ds-read \({orphan}\)", plan.stdout), plan.stdout
