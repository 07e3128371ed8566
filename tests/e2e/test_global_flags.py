"""DESIGN's global flags (--server, --token-file, --now, -v, ...) work before the command name
as well as after it, with the same precedence over the environment and the spec."""

from __future__ import annotations

from tests.e2e.conftest import Cli, write_spec
from tests.e2e.test_invariants import THREE_TOKENS


def test_global_flags_before_the_command_name(cli: Cli) -> None:
    spec = str(write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS))
    token_file = cli.emulator.admin_token_file
    # Neither the environment's address nor its token is usable: the flags must be what counts.
    run = cli(
        "--server",
        cli.emulator.url,
        "--token-file",
        str(token_file),
        "-v",
        "--now",
        "2030-01-02T03:04:05Z",
        "plan",
        "-f",
        spec,
        "--detailed-exitcode",
        PACKAGEMANAGER_ADDRESS="http://127.0.0.1:9",
        PACKAGEMANAGER_TOKEN="not-a-token",
    )
    assert run.code == 2, run.stderr
    assert f"on {cli.emulator.url}" in run.stdout
    assert "as of 2030-01-02 03:04 UTC" in run.stdout
    assert "DEBUG reconciler.server.http: GET /__api__/tokens -> 200" in run.stderr

    # After the command name wins over before it, as the nearer flag.
    run = cli("--server", "http://127.0.0.1:9", "list", "--server", cli.emulator.url)
    assert run.code == 0, run.stderr

    # validate is offline, but a global --now still sets its clock: a date that is in the past
    # today is in the future then.
    dated = write_spec(
        cli.workdir / "dated.yaml",
        THREE_TOKENS + "  expires: 2031-01-01\n",
    )
    assert cli("validate", "-f", str(dated)).code == 0
    run = cli("--now", "2032-01-01", "validate", "-f", str(dated))
    assert run.code == 3, run.stderr
    assert "in the past" in run.stdout + run.stderr
