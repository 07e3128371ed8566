"""I5 with `--driver rspm`: an apply killed with SIGKILL converges on the next run.

The kill machinery is tests/e2e/held_request.py's (`kill_at`, `converge`); here the spec
selects the rspm driver, so creates and revokes go through PPM's CLI (the double in
tests/fakes/rspm). The emulator holds the CLI's request after committing it and the test kills
`ppm-tokens` while its child waits: a token created whose value never reached anyone, a value
stored but not yet proven, a revoke in flight. The child CLI outlives its parent as it would on
a real machine.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.ownership import parse_owner
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, token_entries, write_spec
from tests.e2e.held_request import (
    CREATE,
    REVOKE,
    VERIFY,
    KillPoint,
    active_by_name,
    converge,
    kill_at,
)
from tests.e2e.test_invariants import stored_meta, stored_value

FAKE_RSPM = Path(__file__).resolve().parents[1] / "fakes" / "rspm"
TOKENS = 6


@pytest.mark.slow
def test_i5_kill_minus_nine_with_the_rspm_driver_then_converge(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    header = f"server: {{driver: rspm, rspm: {FAKE_RSPM}}}\n"
    spec_path = write_spec(cli.workdir / "tokens.yaml", token_entries(TOKENS), header=header)
    spec = str(spec_path)
    control = emulator_control
    points = [
        KillPoint("after create", CREATE, 0),
        KillPoint("after store", VERIFY, 0),
        KillPoint("mid revoke", REVOKE, 0),
        KillPoint("after create", CREATE, 1),
    ]
    kills: list[str] = []
    # Every GUID a store entry named after some run: the tokens consumers could have been given.
    held_ever: set[str] = set()

    def note_held() -> None:
        for index in range(TOKENS):
            meta = cli.workdir / "secrets" / f"t{index:03d}.meta.json"
            if meta.is_file():
                held_ever.add(json.loads(meta.read_text())["token_guid"])

    for number, phase in enumerate(["create", "rotate", "replace"]):
        if phase == "rotate":
            control.advance(timedelta(days=61))
        elif phase == "replace":
            text = re.sub(r"token (v\d+ )?number", f"token v{number} number", spec_path.read_text())
            spec_path.write_text(text)
        now = control.now().isoformat()
        for point in points:
            if kill_at(cli, control, spec, point, now):
                kills.append(f"{phase}: {point.label}")
            note_held()
        converge(cli, spec, control.now().isoformat())
        note_held()
    assert {k.split(": ")[1] for k in kills} == {"after create", "after store", "mid revoke"}
    assert len(kills) >= 8, kills

    control.advance(timedelta(days=4))
    converge(cli, spec, control.now().isoformat())
    now = control.now()
    active = active_by_name(http_driver, now)
    assert len(active) == TOKENS
    for name, tokens in active.items():
        assert len(tokens) == 1, f"{name} has {len(tokens)} active tokens"
        assert stored_meta(cli, name)["token_guid"] == tokens[0].guid
        assert http_driver.check_token(stored_value(cli, name), tokens[0])
    by_guid = {t.guid: t for t in http_driver.list_tokens()}

    # I1 across every run: a token a store ever held is revoked only once a newer token of the
    # same name, also held by the store, had been created and had authenticated. (A token that
    # only passed its proof and was never stored, an orphan of a kill, may go at any time.)
    names = {guid: parse_owner(t.description) for guid, t in by_guid.items()}
    log = control.request_log()
    usable = {e["actor"] for e in log if isinstance(e.get("actor"), str)} & held_ever
    created_at = {
        str(e["token_guid"]): int(e["seq"])
        for e in log
        if e["method"] == "POST" and e["path"] == "/__api__/tokens" and e.get("token_guid")
    }
    for entry in log:
        if not str(entry["path"]).endswith("/revoke") or entry["status"] != 200:
            continue
        revoked = str(entry["token_guid"])
        if revoked not in usable:
            continue
        successors = [
            guid
            for guid in usable
            if names[guid] == names[revoked]
            and by_guid[guid].created > by_guid[revoked].created
            and created_at.get(guid, 10**9) < int(entry["seq"])
        ]
        assert successors, f"{revoked} revoked with no usable successor"
