from __future__ import annotations

from reconciler.problems import Problem, Severity


def test_render_positions_and_warning_prefix() -> None:
    assert Problem("t.yaml", 7, 5, "/x", "bad").render() == "t.yaml:7:5: bad"
    warning = Problem("t.yaml", 2, 1, "/y", "old", Severity.WARNING)
    assert warning.render() == "t.yaml:2:1: warning: old"


def test_whole_file_problems_render_at_one_one_for_editors_and_ci_annotations() -> None:
    assert (
        Problem("t.yaml", 0, 0, "", "the file is empty").render() == "t.yaml:1:1: the file is empty"
    )
