"""Without R the R client tests skip and say how to enable them; in CI, where .ci/run installs
R, its absence is a failure instead, so CI can never pass with the R tests silently skipped."""

from __future__ import annotations

import pytest

from tests.consumers.clients import rscript


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
