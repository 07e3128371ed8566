"""TLS against a real HTTPS server on loopback (the emulator under uvicorn with a self-signed
certificate made at test time): a failed check says so and is not retried; --ca-cert,
SSL_CERT_FILE and REQUESTS_CA_BUNDLE are honoured, in that order, by ppm-tokens and by the rspm
CLI it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.commands.runtime import Environment, GlobalOptions, open_driver
from reconciler.desired.model import Driver as DriverKind
from reconciler.emulator.server import RunningEmulator, start_emulator
from reconciler.errors import ServerError, UsageError
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.tls import ssl_context, trust_source, trusting_environment
from tests.tls import self_signed_certificate

MESSAGE = (
    "certificate verify failed: self-signed certificate; pass --ca-cert FILE or set SSL_CERT_FILE"
)


@pytest.fixture
def https_emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    tls = self_signed_certificate(tmp_path / "tls")
    state = tmp_path / "state"
    running = start_emulator(
        db_path=state / "db.sqlite3", admin_token_file=state / "admin.token", tls=tls
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def cert(https_emulator: RunningEmulator, tmp_path: Path) -> Path:
    return tmp_path / "tls" / "cert.pem"


def env_for(emulator: RunningEmulator, **variables: str) -> Environment:
    base = {"PACKAGEMANAGER_ADDRESS": emulator.url, "PACKAGEMANAGER_TOKEN": emulator.admin_token()}
    return Environment({**base, **variables}, Path.cwd())


def test_an_untrusted_certificate_says_so_and_is_not_retried(
    https_emulator: RunningEmulator,
) -> None:
    assert https_emulator.url.startswith("https://127.0.0.1:")
    sleeps: list[float] = []
    admin = Secret(https_emulator.admin_token())
    driver = HttpDriver(https_emulator.url, admin, sleep=sleeps.append)
    with driver, pytest.raises(ServerError) as raised:
        driver.list_tokens()
    assert str(raised.value).endswith(MESSAGE)
    assert str(raised.value).startswith(f"GET {https_emulator.url}/__api__/tokens: ")
    assert sleeps == []  # no second attempt


@pytest.mark.parametrize(
    ("flag", "variables"),
    [
        pytest.param(True, {}, id="--ca-cert"),
        pytest.param(False, {"SSL_CERT_FILE": "{cert}"}, id="SSL_CERT_FILE"),
        pytest.param(False, {"REQUESTS_CA_BUNDLE": "{cert}"}, id="REQUESTS_CA_BUNDLE"),
        pytest.param(False, {"SSL_CERT_DIR": "{dir}"}, id="SSL_CERT_DIR"),
        pytest.param(
            True, {"SSL_CERT_FILE": "/nonexistent.pem"}, id="--ca-cert-before-SSL_CERT_FILE"
        ),
        pytest.param(
            False,
            {"SSL_CERT_FILE": "{cert}", "REQUESTS_CA_BUNDLE": "/nonexistent.pem"},
            id="SSL_CERT_FILE-before-REQUESTS_CA_BUNDLE",
        ),
    ],
)
def test_a_trusted_certificate_works(
    https_emulator: RunningEmulator, cert: Path, flag: bool, variables: dict[str, str]
) -> None:
    if "SSL_CERT_DIR" in variables:
        # OpenSSL looks certificates up by subject hash in a directory.
        hashed = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(cert)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (cert.parent / f"{hashed}.0").symlink_to(cert)
    filled = {k: v.format(cert=cert, dir=cert.parent) for k, v in variables.items()}
    options = GlobalOptions(ca_cert=cert if flag else None)
    driver = open_driver(options, env_for(https_emulator, **filled), None)
    try:
        assert driver.list_tokens()  # the bootstrap admin token at least
    finally:
        driver.close()


def test_an_unreadable_ca_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--ca-cert .*missing\.pem: cannot load CA"):
        ssl_context(trust_source(tmp_path / "missing.pem", {}))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(UsageError, match=r"SSL_CERT_FILE .*garbage\.pem: cannot load CA"):
        ssl_context(trust_source(None, {"SSL_CERT_FILE": str(garbage)}))


def test_the_cli_names_the_failure_and_takes_ca_cert(
    https_emulator: RunningEmulator, cert: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "tokens.yaml"
    spec.write_text("version: 1\nnamespace: tls\ntokens: []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACKAGEMANAGER_", "SSL_"))}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.update(PACKAGEMANAGER_ADDRESS=https_emulator.url, HOME=str(tmp_path))
    token = tmp_path / "admin.token"
    token.write_text(https_emulator.admin_token() + "\n")
    token.chmod(0o600)

    def plan(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "plan",
                "-f",
                str(spec),
                "--token-file",
                str(token),
                *extra,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    refused = plan()
    assert refused.returncode == 1
    assert MESSAGE in refused.stderr
    assert "Traceback" not in refused.stderr
    trusted = plan("--ca-cert", str(cert))
    assert trusted.returncode == 0, trusted.stderr
    assert "No changes" in trusted.stdout


@pytest.mark.parametrize(
    ("flag", "variables"),
    [
        pytest.param(True, {"SSL_CERT_FILE": "/nonexistent.pem"}, id="--ca-cert"),
        pytest.param(False, {"REQUESTS_CA_BUNDLE": "{cert}"}, id="REQUESTS_CA_BUNDLE"),
    ],
)
def test_the_rspm_cli_trusts_what_ppm_tokens_trusts(
    https_emulator: RunningEmulator, cert: Path, flag: bool, variables: dict[str, str]
) -> None:
    """PPM's CLI checks the certificate itself: the CA the user gave reaches it as
    SSL_CERT_FILE (which Go's TLS and OpenSSL read), replacing one that was not chosen."""
    fake = Path(__file__).resolve().parents[1] / "fakes" / "rspm"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SSL_", "FAKE_"))}
    inherited.pop("REQUESTS_CA_BUNDLE", None)
    filled = {k: v.format(cert=cert) for k, v in variables.items()}
    env = env_for(https_emulator, **inherited, **filled)
    options = GlobalOptions(ca_cert=cert if flag else None, driver=DriverKind.RSPM, rspm=str(fake))
    with open_driver(options, env, None) as driver:
        assert driver.list_tokens()  # listed by the CLI, over TLS


def test_the_trust_reaches_other_programs_as_they_read_it(tmp_path: Path) -> None:
    env = {"SSL_CERT_FILE": "/other.pem", "SSL_CERT_DIR": "/other", "PATH": "/bin"}
    given = trusting_environment(trust_source(tmp_path / "ca.pem", env), env)
    assert given == {"SSL_CERT_FILE": str(tmp_path / "ca.pem"), "PATH": "/bin"}
    directory = trusting_environment(trust_source(None, {"SSL_CERT_DIR": "certs"}), {})
    assert directory == {"SSL_CERT_DIR": str(Path("certs").absolute())}
    assert trusting_environment(trust_source(None, {}), {"PATH": "/bin"}) == {"PATH": "/bin"}
