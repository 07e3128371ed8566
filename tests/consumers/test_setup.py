"""R is one of the tools `make test` installs, so without it the R client tests fail and say how
to install it: no run can pass with them silently skipped. renv and pkgcache, which no Debian
package provides, are tested only when asked for, and then fail rather than skip when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.consumers.clients import (
    R_LIBS_VARIABLE,
    optional_r_packages_enabled,
    require_r_package,
    rscript,
)


def test_without_r_the_tests_fail_and_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match=r"make test.*r-base-core"):
        rscript()


def test_the_optional_r_packages_are_tested_only_when_their_library_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(R_LIBS_VARIABLE, raising=False)
    assert not optional_r_packages_enabled()
    monkeypatch.setenv(R_LIBS_VARIABLE, "/some/library")
    assert optional_r_packages_enabled()


def test_a_named_library_without_the_package_fails_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(R_LIBS_VARIABLE, str(tmp_path / "library"))
    with pytest.raises(pytest.fail.Exception) as failed:
        require_r_package("ppmnosuchpackage", tmp_path)
    message = str(failed.value)
    assert 'install.packages("ppmnosuchpackage"' in message
    assert R_LIBS_VARIABLE in message
