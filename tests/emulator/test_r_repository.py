"""The emulator's R repositories answer like a CRAN-like repository that R installs from, behind
the same `__token__` Basic auth and `repos:read` check as the Python index. R itself checks the
index and the archive list where it is installed."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import httpx

from reconciler.emulator.rpackages import PACKAGES, r_repository, source_tarball
from reconciler.emulator.server import RunningEmulator
from tests.consumers.clients import clean_env, rscript

CONTRIB = "/cran/latest/src/contrib"


def basic(value: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{value}".encode()).decode()}


def create(emulator: RunningEmulator, resources: list[str], scope: str = "repos:read") -> str:
    headers = {"Authorization": f"Bearer {emulator.admin_token()}"}
    body = {
        "description": "r",
        "user": "r",
        "scope": scope,
        "resources": resources,
        "expires": "1d",
    }
    response = httpx.post(emulator.url + "/__api__/tokens", headers=headers, json=body)
    response.raise_for_status()
    return str(response.json()["token"])


def test_r_repository_files_and_refusals(emulator: RunningEmulator) -> None:
    cran = basic(create(emulator, ["cran"]))
    with httpx.Client(base_url=emulator.url) as client:
        index = client.get(f"{CONTRIB}/PACKAGES", headers=cran)
        assert index.status_code == 200
        compressed = client.get(f"{CONTRIB}/PACKAGES.gz", headers=cran)
        assert compressed.status_code == 200
        assert gzip.decompress(compressed.content) == index.content
        for package in PACKAGES:
            tarball = client.get(f"{CONTRIB}/{package.filename}", headers=cran)
            assert tarball.status_code == 200
            md5 = hashlib.md5(tarball.content).hexdigest()
            assert f"Package: {package.name}\nVersion: {package.version}\n" in index.text
            assert f"MD5sum: {md5}\n" in index.text
        head = client.head(f"{CONTRIB}/PACKAGES.gz", headers=cran)
        assert (head.status_code, head.headers["content-length"]) == (
            200,
            str(len(compressed.content)),
        )
        # Where CRAN-like repositories without binaries or an RDS index have nothing.
        for missing in (
            "src/contrib/PACKAGES.rds",
            "src/contrib/Archive/ppmdemo/",
            "src/contrib/nothere_1.0.tar.gz",
            "bin/windows/contrib/4.2/PACKAGES",
            "bin/macosx/big-sur-arm64/contrib/4.2/PACKAGES.gz",
            "",
        ):
            assert client.get(f"/cran/latest/{missing}", headers=cran).status_code == 404, missing
        # Every path, present or not, first wants a token that may read this repository.
        pypi_only = basic(create(emulator, ["pypi"]))
        writer = basic(create(emulator, ["internal-src"], scope="sources:write"))
        for path in (
            f"{CONTRIB}/PACKAGES.gz",
            f"{CONTRIB}/{PACKAGES[0].filename}",
            f"{CONTRIB}/PACKAGES.rds",
        ):
            for headers in ({}, pypi_only, writer, basic("not.a.token")):
                refused = client.get(path, headers=headers)
                assert refused.status_code == 401, (path, headers)
                assert refused.headers["www-authenticate"] == 'Basic realm="packagemanager"'
        # Every R repository serves the same packages; a Python repository serves none of them.
        everything = basic(create(emulator, ["*"]))
        bioc = client.get("/bioconductor/latest/src/contrib/PACKAGES", headers=everything)
        assert bioc.content == index.content
        assert (
            client.get("/pypi/latest/src/contrib/PACKAGES", headers=everything).status_code == 404
        )


def test_tarballs_are_reproducible_source_packages() -> None:
    for package in PACKAGES:
        content = source_tarball(package)
        assert content == source_tarball(package)
        assert content == r_repository()[package.filename].content
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
            names = archive.getnames()
            description = archive.extractfile(f"{package.name}/DESCRIPTION")
            assert description is not None
            fields = dict(line.split(": ", 1) for line in description.read().decode().splitlines())
        assert set(names) == {
            package.name,
            f"{package.name}/DESCRIPTION",
            f"{package.name}/NAMESPACE",
            f"{package.name}/R",
            f"{package.name}/R/{package.name}.R",
        }
        assert fields["Package"] == package.name
        assert fields["Version"] == package.version
        assert {"Title", "Description", "Author", "Maintainer", "License"} <= set(fields)
    imports = {p.name: p.imports for p in PACKAGES}
    assert imports == {"ppmdemo": ("ppmhello",), "ppmhello": ()}


def _r(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(cwd / "home")
    return subprocess.run(
        [rscript(), "--vanilla", "-e", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_r_writes_the_same_index_and_reads_the_archive_list(tmp_path: Path) -> None:
    """`tools::write_PACKAGES()` over the tarballs gives byte for byte the emulator's PACKAGES,
    and `readRDS()` reads the archive list as an empty named list, where a lookup gives NULL."""
    rscript()
    files = r_repository()
    for package in PACKAGES:
        (tmp_path / package.filename).write_bytes(files[package.filename].content)
    (tmp_path / "archive.rds").write_bytes(files["Meta/archive.rds"].content)
    script = """
    tools::write_PACKAGES(".", type = "source")
    archive <- readRDS("archive.rds")
    stopifnot(is.list(archive), length(archive) == 0, is.null(archive[["ppmdemo"]]))
    stopifnot(identical(names(archive), character(0)))
    cat("archive ok\\n")
    """
    (tmp_path / "home").mkdir()
    result = _r(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "archive ok" in result.stdout
    assert (tmp_path / "PACKAGES").read_bytes() == files["PACKAGES"].content
