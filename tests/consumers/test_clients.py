"""Each format ppm-tokens writes works with the real clients that read it, with no glue beyond
the configuration the README gives: pip, uv, curl and R read the netrc file; uv takes a raw
value from environment variables (as a CI job passes a secret); the JSON document gives both
the server and the token (as the External Secrets Operator extracts fields)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.consumers import clients
from tests.consumers.conftest import CLIENT_SECRETS, JSON, NETRC, RAW, Deployment, client_params


def test_apply_wrote_each_format_privately(deployment: Deployment) -> None:
    store = deployment.store
    netrc = (store / NETRC).read_text()
    assert netrc.startswith("machine 127.0.0.1 login __token__ password ")
    assert netrc.count("\n") == 1
    assert "\n" not in (store / RAW).read_text()
    assert (store / JSON).read_text().startswith("{\n")
    for key in (NETRC, RAW, JSON):
        assert stat.S_IMODE((store / key).stat().st_mode) == 0o600


@pytest.mark.parametrize("client", client_params())
def test_client_installs_with_the_stored_token(deployment: Deployment, client: str) -> None:
    deployment.control.clear_log()
    run = deployment.consume(client)
    assert run.ok, deployment.shown(run)
    # The server saw the token ppm-tokens stored, and served it.
    guid = deployment.guid(CLIENT_SECRETS[client])
    requests = deployment.repository_requests()
    assert (200, guid) in requests
    assert {actor for _, actor in requests} <= {guid, None}


def test_r_default_download_method_ignores_netrc(deployment: Deployment) -> None:
    """Why the README's R line names the curl method: R 4.2's default (libcurl) never reads a
    netrc file, so it asks anonymously and is refused."""
    deployment.control.clear_log()
    netrc = deployment.store / NETRC
    run = clients.r_install(
        f"{deployment.emulator.url}/cran/latest", netrc, deployment.runs_dir, method="libcurl"
    )
    deployment.client_runs.append(run)
    assert not run.ok
    requests = deployment.repository_requests()
    assert requests
    assert set(requests) == {(401, None)}


def test_r_with_the_token_in_the_repository_url_fails(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Why the README does not offer `https://__token__:TOKEN@host/...` for R: R names a cache
    file after the URL, and a PPM token makes that name too long. R also prints that name, token
    and all, in its warnings: this run's profile and output stay in this test's own directory,
    outside the leak scan, and are not shown."""
    value = (deployment.store / NETRC).read_text().split()[-1]  # may read the R repository
    host = deployment.emulator.url.removeprefix("http://")
    url = f"http://__token__:{value}@{host}/cran/latest"
    run = clients.r_install(url, tmp_path / "unused", tmp_path, method="libcurl")
    assert not run.ok
    assert "File name too long" in run.output


@pytest.mark.optional_r
def test_pkgcache_without_the_user_in_the_url_sends_no_credentials(
    deployment: Deployment,
) -> None:
    """Why the README's pak line names `__token__@` in the repository URL: pak (pkgcache) looks
    a password up only for a user named there, so without it every request is anonymous."""
    clients.require_r_package("pkgcache", deployment.runs_dir)
    deployment.control.clear_log()
    netrc = deployment.store / NETRC
    repo = f"{deployment.emulator.url}/cran/latest"
    run = clients.pkgcache_fetch(repo, netrc, deployment.runs_dir)
    deployment.client_runs.append(run)
    assert not run.ok
    requests = deployment.repository_requests()
    assert requests
    assert set(requests) == {(401, None)}
