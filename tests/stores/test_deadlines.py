"""One overall deadline per store call (stores.NAME.timeout), retries included: a store that
accepts connections and never answers (a stopped process) fails the call when it passes, with a
message naming the call and the setting, and nothing retries a call that ran out of time."""

from __future__ import annotations

import os
import shlex
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError, StoreTimeout, TimedOut
from reconciler.stores.registry import StoreContext, open_store
from reconciler.stores.retry import with_retries
from tests.silent import Silent, silent_server
from tests.stores.openbao import OpenBao, openbao, vault_mount
from tests.stores.payloads import new_payload

__all__ = ["openbao", "vault_mount"]  # fixtures


@pytest.fixture
def silent() -> Iterator[Silent]:
    with silent_server() as server:
        yield server


def timed(call: Callable[[], Any]) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        call()
    return caught.value, time.monotonic() - started


def store(kind: str, tmp_path: Path, env: dict[str, str], **options: Any) -> Any:
    config = StoreConfig(kind, kind, MappingProxyType(options))
    return open_store(config, StoreContext(spec_dir=tmp_path, env=env))


def test_a_vault_that_never_answers_fails_each_call_at_its_deadline(
    silent: Silent, tmp_path: Path
) -> None:
    vault = store(
        "vault", tmp_path, {"VAULT_TOKEN": "hvs.test"}, address=silent.url, mount="kv", timeout=0.5
    )
    error, elapsed = timed(lambda: vault.put("ds-read", new_payload()))
    assert elapsed < 3
    assert isinstance(error, TimedOut)
    assert str(error) == (
        "store 'vault': token lookup (GET 127.0.0.1/v1/auth/token/lookup-self) did not answer "
        "within 0.5 s (deadline: stores.vault.timeout)"
    )


def test_a_github_api_that_never_answers_fails_at_the_deadline(
    silent: Silent, tmp_path: Path
) -> None:
    github = store(
        "github",
        tmp_path,
        {"GITHUB_TOKEN": "ghs_test"},
        repository="acme/pipelines",
        api_url=silent.url,
        timeout=0.5,
    )
    error, elapsed = timed(lambda: github.read_meta("DS_READ"))
    assert elapsed < 3
    assert isinstance(error, TimedOut)
    assert "(GET 127.0.0.1/repos/acme/pipelines/actions/variables/" in str(error)
    assert str(error).endswith("did not answer within 0.5 s (deadline: stores.github.timeout)")


def test_an_aws_endpoint_that_never_answers_fails_at_the_deadline(
    silent: Silent, tmp_path: Path
) -> None:
    keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    aws = store("aws", tmp_path, keys, region="eu-west-1", endpoint_url=silent.url, timeout=1)
    error, elapsed = timed(lambda: aws.read_meta("ds-read"))
    # botocore's attempt in flight may wait out its read timeout (at most the deadline).
    assert elapsed < 4
    assert isinstance(error, TimedOut)
    assert str(error) == (
        "store 'aws' (aws): DescribeSecret did not finish within 1 s (deadline: stores.aws.timeout)"
    )


def test_a_command_that_hangs_is_killed_at_its_deadline_and_not_run_again(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    command = store(
        "command",
        tmp_path,
        {"PATH": os.environ.get("PATH", "")},
        command=["sh", "-c", f"echo run >> {shlex.quote(str(runs))}; exec sleep 30"],
        state_dir=str(tmp_path / "state"),
        timeout=0.5,
    )
    error, elapsed = timed(
        lambda: with_retries(
            lambda: command.put("ds-read", new_payload()),
            attempts=4,
            backoff=0,
            sleep=lambda _: None,
        )
    )
    assert elapsed < 5
    assert isinstance(error, TimedOut)
    assert "did not finish within 0.5 s (deadline: stores.command.timeout)" in str(error)
    assert runs.read_text().splitlines() == ["run"]


def test_a_call_that_ran_out_of_time_is_never_retried() -> None:
    calls: list[str] = []

    def attempt() -> None:
        calls.append("call")
        raise StoreTimeout("store 'v': write did not answer within 60 s")

    with pytest.raises(StoreTimeout):
        with_retries(attempt, attempts=4, backoff=0, sleep=lambda _: None)
    assert calls == ["call"]


@pytest.fixture
def stopped(openbao: OpenBao) -> Callable[[], None]:
    """Stops OpenBao (SIGSTOP: it keeps accepting connections and answers none) when called;
    it runs again when the test ends."""
    stops: list[int] = []

    def stop() -> None:
        os.kill(openbao.process.pid, signal.SIGSTOP)
        stops.append(openbao.process.pid)

    yield stop  # type: ignore[misc]
    for pid in stops:
        os.kill(pid, signal.SIGCONT)


def test_a_stopped_vault_fails_the_write_and_the_restore_each_at_its_deadline(
    openbao: OpenBao, vault_mount: str, tmp_path: Path, stopped: Callable[[], None]
) -> None:
    vault = store(
        "vault",
        tmp_path,
        {"VAULT_TOKEN": openbao.root_token},
        address=openbao.url,
        mount=vault_mount,
        prefix="ppm/",
        timeout=1,
    )
    first = new_payload()
    vault.put("ds-read", first)  # a previous version, and the client has looked its token up
    stopped()
    second = new_payload()
    error, elapsed = timed(lambda: vault.put("ds-read", second))
    assert elapsed < 4
    assert isinstance(error, TimedOut)
    assert "did not answer within 1 s (deadline: stores.vault.timeout)" in str(error)
    assert f"127.0.0.1/v1/{vault_mount}/" in str(error)
    error, elapsed = timed(lambda: vault.restore_previous("ds-read", second.meta.token_guid))
    assert elapsed < 4
    assert isinstance(error, TimedOut)
