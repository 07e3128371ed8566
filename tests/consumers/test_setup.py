"""Without R the R client tests skip and say how to enable them; in CI, where .ci/run installs
R, its absence is a failure instead, so CI can never pass with the R tests silently skipped.
Without renv or pkgcache, which no Debian package provides, their tests skip and say so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.consumers.clients import R_LIBS_VARIABLE, require_r_package, rscript


def test_without_r_the_tests_skip_with_how_to_enable_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install r-base-core"):
        rscript()


def test_without_r_in_ci_the_tests_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"cannot run.*r-base-core"):
        rscript()


def test_without_an_r_package_its_test_skips_with_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """renv and pak have no Debian 12 package, so CI cannot install them: their tests skip, and
    say where to get them and how to point the tests at them."""
    monkeypatch.delenv(R_LIBS_VARIABLE, raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_r_package("ppmnosuchpackage", tmp_path)
    message = str(skipped.value)
    assert 'install.packages("ppmnosuchpackage")' in message
    assert R_LIBS_VARIABLE in message
