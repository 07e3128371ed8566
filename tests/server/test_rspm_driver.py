"""The rspm driver against the emulator through the rspm test double (real subprocesses), and
its handling of every way the CLI can fail (a runner that answers as the CLI would)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from reconciler.commands.runtime import Environment, GlobalOptions, open_driver, rspm_command
from reconciler.desired import load_spec
from reconciler.desired.model import Driver as DriverKind
from reconciler.desired.model import Spec
from reconciler.emulator.server import RunningEmulator
from reconciler.errors import (
    AuthError,
    CreateOutcomeUnknown,
    NotFoundError,
    RequestRejected,
    ServerError,
    UsageError,
)
from reconciler.secret import Secret
from reconciler.server.rspm import (
    Completed,
    RspmDriver,
    RspmNotRunnable,
    RspmTimeout,
    run_subprocess,
)
from reconciler.server.rspm_args import create_argv, expires_flag
from tests.jwt_shapes import jwt_shaped

from .test_http_emulator import request as token_request

FAKE_RSPM = Path(__file__).resolve().parents[1] / "fakes" / "rspm"
SHAPES = ["plain", "camel", "go", "epoch"]
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACKAGEMANAGER_", "FAKE_"))}
    env.update(extra)
    return env


@dataclass
class Recorder:
    """The real runner, keeping what each call was given."""

    calls: list[tuple[list[str], dict[str, str]]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
        self.calls.append((list(argv), dict(env)))
        return run_subprocess(argv, env, timeout)


@pytest.fixture(params=SHAPES)
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def driver(
    emulator: RunningEmulator, admin_token: Secret, shape: str, recorder: Recorder
) -> Iterator[RspmDriver]:
    with RspmDriver(
        [str(FAKE_RSPM)],
        emulator.url,
        admin_token,
        env=clean_env(FAKE_RSPM_LIST_SHAPE=shape),
        runner=recorder,
    ) as rspm:
        yield rspm


READER = "reader [ppm-tokens:t/reader]"
request = partial(token_request, READER, lifetime=timedelta(days=30))


def test_create_prove_list_revoke_through_the_cli(
    driver: RspmDriver, recorder: Recorder, admin_token: Secret, emulator: RunningEmulator
) -> None:
    created = driver.create_token(request())
    token = created.token
    assert token.description == READER
    assert token.scope == "repos:read"
    assert token.resources == ("pypi",)
    assert token.expires is not None
    assert abs((token.expires - token.created) - timedelta(days=30)) < timedelta(minutes=2)
    assert driver.check_token(created.value, token)
    assert token.guid in {t.guid for t in driver.list_tokens()}

    driver.revoke_token(token.guid)
    driver.revoke_token(token.guid)  # twice is not an error
    listed = {t.guid: t for t in driver.list_tokens()}
    assert listed[token.guid].revoked is not None
    assert not driver.check_token(created.value, listed[token.guid])
    assert driver.self_guid() in listed

    # The admin token travels in the child's environment only; no value in any argv.
    for argv, env in recorder.calls:
        assert env["PACKAGEMANAGER_TOKEN"] == admin_token.reveal()
        assert env["PACKAGEMANAGER_ADDRESS"] == emulator.url.rstrip("/")
        joined = " ".join(argv)
        assert admin_token.reveal() not in joined
        assert created.value.reveal() not in joined
    creates = [argv for argv, _ in recorder.calls if argv[1:3] == ["create", "token"]]
    assert creates == [
        [
            str(FAKE_RSPM),
            "create",
            "token",
            "--scope=repos:read",
            "--repos=pypi",
            "--description=reader [ppm-tokens:t/reader]",
            "--expires=30d",
            "--user=analyst@example.com",
            "--quiet",
        ]
    ]


@pytest.mark.parametrize("shape", ["plain"])
def test_scopes_without_resources_and_all_sources(driver: RspmDriver) -> None:
    admin = driver.create_token(request(scope="blocklist:read", resources=(), expires=None))
    assert admin.token.scope == "blocklist:read"
    assert admin.token.expires is None
    uploader = driver.create_token(request(scope="sources:write", resources=("*",)))
    assert uploader.token.resources == ("*",)


@pytest.mark.parametrize("shape", ["plain"])
def test_rejected_create_is_reported_and_nothing_is_made(driver: RspmDriver) -> None:
    before = len(driver.list_tokens())
    with pytest.raises(RequestRejected, match="unknown repository 'nope'"):
        driver.create_token(request(resources=("nope",)))
    assert len(driver.list_tokens()) == before


def test_a_wrapper_prefix_runs_the_cli(
    emulator: RunningEmulator, admin_token: Secret, tmp_path: Path
) -> None:
    log = tmp_path / "argv.log"
    # `env NAME=VALUE rspm ...` stands for `kubectl exec deploy/ppm -- rspm ...`: an argv prefix.
    wrapper = ["/usr/bin/env", f"FAKE_RSPM_LOG={log}", str(FAKE_RSPM)]
    with RspmDriver(wrapper, emulator.url, admin_token, env=clean_env()) as driver:
        assert driver.list_tokens()
    assert json.loads(log.read_text().splitlines()[0]) == [
        "list",
        "tokens",
        "--output-format=json",
    ]


def test_a_refused_admin_token_says_where_to_look(emulator: RunningEmulator) -> None:
    bogus = Secret(jwt_shaped("00000000-0000-4000-8000-000000000000"))
    with (
        RspmDriver([str(FAKE_RSPM)], emulator.url, bogus, env=clean_env()) as driver,
        pytest.raises(AuthError) as caught,
    ):
        driver.list_tokens()
    assert "401" in str(caught.value)
    assert "PACKAGEMANAGER_TOKEN" in str(caught.value)
    assert bogus.reveal() not in str(caught.value)


def test_a_missing_cli_names_the_setting() -> None:
    with (
        RspmDriver(["/nonexistent/rspm"], "http://127.0.0.1:9", Secret("x"), env={}) as driver,
        pytest.raises(RspmNotRunnable, match=r"server\.rspm / --rspm"),
    ):
        driver.list_tokens()


# The CLI's failures, answered by a scripted runner ---------------------------------------------


@dataclass
class Scripted:
    answers: list[Completed | Exception]
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
        self.calls.append(list(argv))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


ADMIN = Secret(jwt_shaped("11111111-1111-4111-8111-111111111111"))
LISTING = json.dumps(
    [
        {
            "guid": "22222222-2222-4222-8222-222222222222",
            "description": "reader [ppm-tokens:t/reader]",
            "scope": "repos:read",
            "resources": ["pypi"],
            "created": "2026-03-01T12:00:00Z",
            "revoked": "2026-03-01T12:30:00Z",
        }
    ]
)


def scripted(*answers: Completed | Exception) -> tuple[RspmDriver, Scripted]:
    runner = Scripted(list(answers))
    driver = RspmDriver(
        ["rspm"],
        "http://127.0.0.1:9",
        ADMIN,
        env={},
        runner=runner,
        sleep=lambda _: None,
        now=lambda: NOW,
    )
    return driver, runner


def test_stderr_is_quoted_escaped_and_scrubbed() -> None:
    stderr = f"<< info line\nError: 403 forbidden for {ADMIN.reveal()}\x1b[8m hidden\n"
    driver, _ = scripted(Completed(1, "", stderr))
    with pytest.raises(AuthError) as caught:
        driver.list_tokens()
    message = str(caught.value)
    assert ADMIN.reveal() not in message
    assert "\x1b" not in message
    assert "\\x1b[8m hidden" in message
    assert "info line" not in message


def test_transient_list_failures_are_retried_then_reported() -> None:
    driver, runner = scripted(Completed(1, "", "Error: 503"), Completed(0, "[]", ""))
    assert driver.list_tokens() == []
    assert len(runner.calls) == 2
    driver, runner = scripted(*[Completed(1, "", "Error: connection reset")] * 3)
    with pytest.raises(ServerError, match="connection reset"):
        driver.list_tokens()
    assert len(runner.calls) == 3


def test_an_old_cli_gets_a_version_hint() -> None:
    driver, _ = scripted(Completed(1, "", "Error: unknown flag: --user"), Completed(1, "", ""))
    with pytest.raises(RequestRejected, match=r"major\.minor must match"):
        driver.create_token(request(expires=NOW + timedelta(days=1)))


@pytest.mark.parametrize(
    "answer",
    [
        Completed(1, "", "Error: 502 Bad Gateway"),
        RspmTimeout("rspm create token did not finish within 120s"),
        Completed(0, "", ""),
        Completed(0, "two words", ""),
    ],
    ids=["server-error", "timeout", "no-output", "not-a-token"],
)
def test_a_create_that_may_have_happened_is_never_retried(answer: Completed | Exception) -> None:
    driver, runner = scripted(answer)
    with pytest.raises(CreateOutcomeUnknown) as caught:
        driver.create_token(request(expires=NOW + timedelta(days=1)))
    assert caught.value.description == READER
    assert "two words" not in str(caught.value)
    assert len(runner.calls) == 1


def test_a_failed_create_never_quotes_the_value_it_printed() -> None:
    value = jwt_shaped("33333333-3333-4333-8333-333333333333", "abc")
    driver, _ = scripted(Completed(1, value + "\n", f"Error: 500 after printing {value}"))
    with pytest.raises(CreateOutcomeUnknown) as caught:
        driver.create_token(request(expires=NOW + timedelta(days=1)))
    assert value not in str(caught.value)


def test_created_token_found_by_description_when_jti_is_not_its_guid() -> None:
    value = jwt_shaped("99999999-9999-4999-8999-999999999999")
    unrevoked = LISTING.replace('"revoked": "2026-03-01T12:30:00Z"', '"revoked": null')
    driver, _ = scripted(Completed(0, value + "\n", ""), Completed(0, unrevoked, ""))
    created = driver.create_token(request(expires=NOW + timedelta(days=1)))
    assert created.token.guid == "22222222-2222-4222-8222-222222222222"
    assert created.value == Secret(value)


def test_created_token_missing_from_the_listing_is_an_unknown_outcome() -> None:
    value = jwt_shaped("99999999-9999-4999-8999-999999999999")
    driver, _ = scripted(Completed(0, value, ""), Completed(0, "[]", ""))
    with pytest.raises(CreateOutcomeUnknown, match="does not show"):
        driver.create_token(request(expires=NOW + timedelta(days=1)))


def test_revoking_twice_is_fine_when_the_cli_objects() -> None:
    guid = "22222222-2222-4222-8222-222222222222"
    already = Completed(1, "", "Error: token already revoked")
    driver, _ = scripted(already, Completed(0, LISTING, ""))
    driver.revoke_token(guid)
    driver, _ = scripted(Completed(1, "", "Error: 404 no such token"), Completed(0, "[]", ""))
    with pytest.raises(NotFoundError):
        driver.revoke_token(guid)


def test_a_cli_that_cannot_start_through_a_wrapper() -> None:
    driver, _ = scripted(Completed(127, "", "env: 'rspm': No such file or directory"))
    with pytest.raises(RspmNotRunnable, match="not found"):
        driver.list_tokens()


@pytest.mark.parametrize(
    ("deadline", "lifetime", "flag"),
    [
        (None, None, "never"),
        (NOW + timedelta(days=90), timedelta(days=90), "90d"),
        # The declared lifetime, whatever the moment it was turned into a deadline.
        (NOW + timedelta(days=90, seconds=-3), timedelta(days=90), "90d"),
        (NOW + timedelta(hours=36), timedelta(hours=36), "36h"),
        (NOW + timedelta(weeks=2), timedelta(weeks=2), "14d"),
        # An absolute expiry: seconds, less the margin for the command to reach the server.
        (NOW + timedelta(days=2, minutes=7, seconds=20), None, f"{2 * 86400 + 440 - 120}s"),
        (NOW + timedelta(seconds=100), None, "50s"),  # the margin never takes more than half
    ],
)
def test_expires_is_a_lifetime_from_now(
    deadline: datetime | None, lifetime: timedelta | None, flag: str
) -> None:
    assert expires_flag(deadline, NOW, lifetime=lifetime) == flag


def test_an_expiry_in_the_past_is_refused() -> None:
    with pytest.raises(RequestRejected, match="not in the future"):
        expires_flag(NOW - timedelta(days=1), NOW)


def test_create_arguments_per_scope() -> None:
    sources = create_argv(request(scope="sources:write", resources=("a", "b"), expires=None), NOW)
    assert "--sources=a,b" in sources
    assert not any(a.startswith("--repos") for a in sources)
    admin = create_argv(request(scope="global:admin", resources=(), expires=None), NOW)
    assert not any(a.startswith(("--repos", "--sources")) for a in admin)
    with pytest.raises(RequestRejected, match="unknown scope"):
        create_argv(request(scope="everything"), NOW)


def test_the_real_runner_reports_a_timeout(tmp_path: Path) -> None:
    with pytest.raises(RspmTimeout, match="did not finish"):
        run_subprocess([sys.executable, "-c", "import time; time.sleep(5)"], {}, 0.2)
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(RspmNotRunnable, match="not executable"):
        run_subprocess([str(script)], {}, 5)


# Choosing the driver ----------------------------------------------------------------------------


def _spec(tmp_path: Path, server: str) -> Spec:
    path = tmp_path / "tokens.yaml"
    path.write_text(
        "version: 1\n"
        f"server: {server}\n"
        "stores: {local: {type: file, path: store}}\n"
        "defaults: {store: local}\n"
        "tokens: []\n"
    )
    return load_spec(path, now=NOW)


def test_driver_and_cli_come_from_flags_then_spec_then_defaults(tmp_path: Path) -> None:
    env = Environment({"PACKAGEMANAGER_TOKEN": ADMIN.reveal()}, tmp_path)
    wrapped = _spec(
        tmp_path,
        "{url: 'http://127.0.0.1:9', driver: rspm, rspm: [kubectl, exec, deploy/ppm, --, rspm]}",
    )
    trusted = GlobalOptions(spec_programs=True)
    driver = open_driver(trusted, env, wrapped)
    driver.close()
    assert isinstance(driver, RspmDriver)
    assert driver.command == ("kubectl", "exec", "deploy/ppm", "--", "rspm")
    flagged = GlobalOptions(rspm="/opt/rspm")
    assert rspm_command(flagged, wrapped) == ("/opt/rspm",)
    assert not isinstance(
        open_driver(GlobalOptions(driver=DriverKind.HTTP), env, wrapped), RspmDriver
    )
    relative = _spec(tmp_path, "{url: 'http://127.0.0.1:9', driver: rspm, rspm: ./bin/rspm}")
    assert rspm_command(trusted, relative) == (str(tmp_path / "bin" / "rspm"),)
    plain = _spec(tmp_path, "{url: 'http://127.0.0.1:9'}")
    assert rspm_command(GlobalOptions(), plain) == ("rspm",)
    forced = open_driver(GlobalOptions(driver=DriverKind.RSPM), env, plain)
    forced.close()
    assert isinstance(forced, RspmDriver)


def test_a_program_the_spec_names_runs_only_where_the_command_trusts_the_spec(
    tmp_path: Path,
) -> None:
    """Plan and the read-only commands run on pull requests: the spec's server.rspm is then
    refused, whereas `rspm` on PATH (the default, not named by the spec) is fine."""
    env = Environment({"PACKAGEMANAGER_TOKEN": ADMIN.reveal()}, tmp_path)
    wrapped = _spec(tmp_path, "{url: 'http://127.0.0.1:9', driver: rspm, rspm: [sh, -c, id]}")
    with pytest.raises(UsageError, match=r"server\.rspm names a program.*--rspm PATH"):
        open_driver(GlobalOptions(), env, wrapped)
    named_default = _spec(tmp_path, "{url: 'http://127.0.0.1:9', driver: rspm, rspm: rspm}")
    assert rspm_command(GlobalOptions(), named_default) == ("rspm",)
    assert rspm_command(GlobalOptions(rspm="/opt/rspm"), wrapped) == ("/opt/rspm",)


def test_the_cli_gets_this_servers_admin_token_and_no_other(tmp_path: Path) -> None:
    """The wrapper may need the caller's environment (KUBECONFIG, its own cloud login), but
    of the run's admin tokens only this server's, under PACKAGEMANAGER_TOKEN: never the
    variable of another spec's server in a several-spec run."""
    dump = tmp_path / "environment.json"
    script = tmp_path / "rspm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os\n"
        "open(os.environ['DUMP_FILE'], 'w').write(json.dumps(dict(os.environ)))\n"
        "print('[]')\n"
    )
    script.chmod(0o755)
    spec = _spec(tmp_path, "{url: 'http://127.0.0.1:9', driver: rspm, token_env: PPM_EU_TOKEN}")
    variables = {
        "PATH": os.environ.get("PATH", ""),
        "DUMP_FILE": str(dump),
        "KUBECONFIG": "/home/ci/.kube/config",
        "PPM_EU_TOKEN": ADMIN.reveal(),
        "PPM_US_TOKEN": "the-admin-token-of-another-server",
        "PACKAGEMANAGER_TOKEN": "the-admin-token-of-a-third-server",
    }
    env = Environment(variables, tmp_path, admin_variables=frozenset({"PPM_US_TOKEN"}))

    driver = open_driver(GlobalOptions(rspm=str(script)), env, spec)
    try:
        assert driver.list_tokens() == []
    finally:
        driver.close()

    seen = json.loads(dump.read_text())
    assert seen["PACKAGEMANAGER_TOKEN"] == ADMIN.reveal()
    assert seen["PACKAGEMANAGER_ADDRESS"] == "http://127.0.0.1:9"
    assert seen["KUBECONFIG"] == "/home/ci/.kube/config"
    assert "PPM_US_TOKEN" not in seen and "PPM_EU_TOKEN" not in seen


# The test double behaves like a CLI ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "stream", "words"),
    [
        (["list", "tokens", "--bogus"], 1, "stderr", "Error: unknown flag: --bogus"),
        (["list", "tokens", "-x"], 1, "stderr", "unknown shorthand flag: -x"),
        (["create", "token", "--description=d"], 1, "stderr", '"scope" not set'),
        (["create", "token", "--scope=repos:read", "--description=d"], 1, "stderr", "--repos"),
        (["delete", "token"], 1, "stderr", "unknown command"),
        (["list", "tokens", "-o", "yaml"], 1, "stderr", "'human' or 'json'"),
        (["list", "tokens"], 0, "stdout", "GUID"),
        (["list", "tokens", "--revoked=yes", "-o=json"], 0, "stdout", "[]"),
        (["--help"], 0, "stdout", "rspm create token"),
    ],
)
def test_the_cli_double_parses_like_a_cli(
    emulator: RunningEmulator, args: list[str], code: int, stream: str, words: str
) -> None:
    env = clean_env(
        PACKAGEMANAGER_ADDRESS=emulator.url, PACKAGEMANAGER_TOKEN=emulator.admin_token()
    )
    result = run_subprocess([str(FAKE_RSPM), *args], env, 30)
    assert result.returncode == code
    assert words in getattr(result, stream)


def test_the_cli_double_prints_informational_lines_on_stderr_and_the_value_alone(
    emulator: RunningEmulator,
) -> None:
    env = clean_env(PACKAGEMANAGER_TOKEN=emulator.admin_token())
    base = [str(FAKE_RSPM), "create", "token", "--scope=blocklist:read", "--description=d"]
    loud = run_subprocess([*base, "--user=u", "--address", emulator.url], env, 30)
    quiet = run_subprocess([*base, "--user=u", f"-a={emulator.url}", "-q"], env, 30)
    for result in (loud, quiet):
        assert result.returncode == 0
        assert len(result.stdout.split()) == 1  # the value alone
    assert loud.stderr.startswith("<< ")
    assert quiet.stderr == ""
    no_address = run_subprocess(base, env, 30)
    assert no_address.returncode == 1
    assert "PACKAGEMANAGER_ADDRESS" in no_address.stderr
