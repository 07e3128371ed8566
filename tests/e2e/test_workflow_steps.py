"""tokens-plan.yml and tokens-apply.yml, run from their YAML against the emulator: the `run:`
steps in order (the composite action's too) with the environment GitHub gives them, `uses:`
steps replaced by their documented effect (tests/workflow_runner.py). Asserts the sticky comment,
the action's outputs and the job summary, and that no token value reaches any of them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator, start_emulator
from tests.e2e.conftest import REPO_ROOT
from tests.workflow_runner import Contexts, JobResult, WorkflowRunner, python_on_path

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
PLAN = WORKFLOWS / "tokens-plan.yml"
APPLY = WORKFLOWS / "tokens-apply.yml"
MARKER = "<!-- ppm-tokens:plan-comment part 0 -->"

SPEC = """\
version: 1
namespace: ci
defaults:
  expires: 90d
  rotation: {{after: 60d, before_expiry: 14d, grace: 3d}}
  store: local
stores:
  local: {{type: file, path: {store}}}
tokens:
  - name: ds-read
    user: analyst@example.com
    description: Read access for data science
    scope: repos:read
    resources: [pypi]
  - name: uploader
    user: maintainers@example.com
    description: Upload internal packages
    scope: sources:write
    resources: [internal-src]
"""


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One RUNNER_TEMP for the module, as on a reused runner: the action's install step runs in
    every job, and finds its virtualenv already made after the first."""
    return tmp_path_factory.mktemp("runner-temp")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """What checkout leaves: the repository's files (tracked and new, not ignored)."""
    root = tmp_path / "workspace"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    (root / "tokens.yaml").write_text(SPEC.format(store=tmp_path / "store"))
    return root


@pytest.fixture
def runner(
    workspace: Path, runner_temp: Path, tmp_path: Path, emulator: RunningEmulator
) -> Iterator[WorkflowRunner]:
    home = tmp_path / "home"
    home.mkdir()
    base = {
        "PATH": python_on_path(os.environ["PATH"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }
    yield WorkflowRunner(workspace, runner_temp, base, tmp_path / "github-api.json")


def contexts(emulator: RunningEmulator, *, event: str, fork: bool = False) -> Contexts:
    github: dict[str, object] = {
        "repository": "acme/tokens",
        "server_url": "https://github.com",
        "run_id": "4242",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "event_name": event,
    }
    if event == "pull_request":
        head = "someone/tokens" if fork else "acme/tokens"
        github["event"] = {"pull_request": {"number": 7, "head": {"repo": {"full_name": head}}}}
    return Contexts(
        github=github,
        vars={"PACKAGEMANAGER_ADDRESS": emulator.url},
        secrets={"PACKAGEMANAGER_TOKEN": emulator.admin_token()},
    )


def run_plan(runner: WorkflowRunner, emulator: RunningEmulator, **kw: bool) -> list[JobResult]:
    jobs = [runner.run_job(PLAN, "validate", contexts(emulator, event="pull_request", **kw))]
    if jobs[0].outcome == "success":
        jobs.append(runner.run_job(PLAN, "plan", contexts(emulator, event="pull_request", **kw)))
    return jobs


def step(job: JobResult, name: str) -> dict[str, str]:
    return next(s for s in job.steps if s.name == name).outputs


def comments(runner: WorkflowRunner) -> list[dict[str, object]]:
    return list(runner.github_api()["comments"])


def assert_no_values(
    runner: WorkflowRunner, emulator_control: EmulatorControl, jobs: list[JobResult]
) -> None:
    """I2 for the pipeline: no issued value in any step's output, summary, comment or file the
    run left outside the store."""
    values = emulator_control.issued_values()
    texts = [*runner.logs, json.dumps(runner.github_api())]
    texts += [job.summary for job in jobs]
    texts += [json.dumps(s.outputs) for job in jobs for s in job.steps]
    for root in (runner.workspace, runner.runner_temp):
        for path in root.rglob("*"):
            if path.is_file() and "ppm-tokens-venv" not in path.parts:
                texts.append(path.read_text(errors="replace"))
    leaks = [i for i, text in enumerate(texts) for value in values if value in text]
    assert not leaks


def test_plan_then_apply_then_plan_again(
    runner: WorkflowRunner, emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    jobs = run_plan(runner, emulator)
    validate, plan = jobs
    assert validate.outcome == "success", validate.steps[-1].stderr
    assert "ppm-tokens validate: valid" in validate.summary
    assert plan.outcome == "success", [(s.name, s.outcome, s.stdout, s.stderr) for s in plan.steps]

    outputs = step(plan, "Plan")
    assert outputs["exitcode"] == "2"
    assert outputs["summary"] == "2 create"
    saved = json.loads(Path(outputs["plan-path"]).read_text())
    assert saved["summary"]["create"] == 2
    assert runner.artifacts == [("tokens-plan", Path(outputs["plan-path"]))]
    # The job summary is the Markdown plan.
    assert "ds-read" in plan.summary and "uploader" in plan.summary
    assert plan.summary == Path(outputs["output-path"]).read_text()

    (comment,) = comments(runner)
    body = str(comment["body"])
    assert comment["issue_number"] == 7
    assert body.startswith(MARKER + "\n## ppm-tokens plan: <code>ci</code> on ")
    assert "ds-read" in body and "uploader" in body
    assert "Merging applies these changes (2 create)" in body
    assert "https://github.com/acme/tokens/actions/runs/4242" in body

    # Merge: apply on push creates both tokens.
    apply = runner.run_job(APPLY, "apply", contexts(emulator, event="push"))
    assert apply.outcome == "success", [s.stdout + s.stderr for s in apply.steps]
    applied = step(apply, "Apply")
    assert applied["exitcode"] == "0"
    assert applied["summary"].startswith("Apply complete: 2 created")
    assert "ppm-tokens apply: Apply complete: 2 created" in apply.summary
    assert "<pre>" in apply.summary
    assert next(s for s in apply.steps if s.name.startswith("AWS")).outcome == "skipped"

    # Another push to the pull request: the same comment, updated in place.
    jobs += [apply, *run_plan(runner, emulator)]
    again = jobs[-1]
    assert step(again, "Plan")["exitcode"] == "0"
    assert step(again, "Plan")["summary"] == "no changes"
    (comment,) = comments(runner)
    assert str(comment["body"]).startswith(MARKER + "\n## ppm-tokens plan: <code>ci</code> on ")
    assert "Nothing to apply (no changes)." in str(comment["body"])
    assert "ds-read" not in str(comment["body"])
    calls = [name for name, _ in runner.github_api()["calls"]]
    assert calls.count("createComment") == 1
    assert calls.count("updateComment") == 1
    assert_no_values(runner, emulator_control, jobs)


def test_a_fork_is_validated_only(
    runner: WorkflowRunner, emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    emulator_control.clear_log()
    validate, plan = run_plan(runner, emulator, fork=True)
    assert validate.outcome == "success"
    assert plan.outcome == "skipped"
    assert comments(runner) == []
    assert emulator_control.request_log() == []  # validate needs no server


def test_an_invalid_spec_stops_at_validate(
    runner: WorkflowRunner, emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    spec = runner.workspace / "tokens.yaml"
    spec.write_text(spec.read_text().replace("scope: repos:read", "scope: repos:reed"))
    emulator_control.clear_log()
    jobs = run_plan(runner, emulator)
    assert [job.outcome for job in jobs] == ["failure"]
    (validate,) = jobs
    run = next(s for s in validate.steps if s.name == "Validate the spec")
    assert run.outputs["exitcode"] == "3"
    assert run.outputs["summary"] == "invalid"
    assert "tokens.yaml:" in validate.summary
    assert "repos:reed" in validate.summary
    assert emulator_control.request_log() == []


def test_a_failed_plan_replaces_the_older_plan_in_the_comment(
    runner: WorkflowRunner, emulator: RunningEmulator
) -> None:
    """A reviewer reads the sticky comment: after a push whose plan fails it must say so, not
    keep showing the plan of an older commit."""
    assert run_plan(runner, emulator)[-1].outcome == "success"
    (before,) = comments(runner)
    assert "Merging applies these changes (2 create)" in str(before["body"])

    refused = contexts(emulator, event="pull_request")
    refused.secrets = {"PACKAGEMANAGER_TOKEN": "not-an-admin-token"}
    plan = runner.run_job(PLAN, "plan", refused)
    assert plan.outcome == "failure"
    assert step(plan, "Plan")["exitcode"] == "1"
    assert next(s for s in plan.steps if s.name.startswith("Upload")).outcome == "skipped"
    (after,) = comments(runner)
    body = str(after["body"])
    assert after["id"] == before["id"] and body.startswith(MARKER)
    assert "**The plan failed** (exit 1)" in body
    assert "Merging applies" not in body and "ds-read" not in body


def test_a_comment_carrying_the_marker_from_anyone_else_is_left_alone(
    runner: WorkflowRunner, emulator: RunningEmulator
) -> None:
    """The marker is hidden, not secret: a commenter who writes it first must not become the
    author of the plan comment (and so able to edit it after the run), nor lose a comment."""
    forged = "\n".join([MARKER, "## ppm-tokens plan: no changes"])
    state = runner.github_api()
    state["comments"] = [
        {"id": 900, "issue_number": 7, "body": forged, "user": {"login": "mallory"}},
        {
            "id": 901,
            "issue_number": 7,
            "body": "<!-- ppm-tokens:plan-comment part 1 -->\nmore",
            "user": {"login": "mallory", "type": "User"},
        },
    ]
    runner.github_state.write_text(json.dumps(state))
    jobs = run_plan(runner, emulator)
    assert [job.outcome for job in jobs] == ["success", "success"]
    calls = runner.github_api()["calls"]
    assert [name for name, _ in calls] == ["listComments", "createComment"]
    bodies = {c["id"]: str(c["body"]) for c in comments(runner)}
    assert bodies[900] == forged and 901 in bodies
    (ours,) = [c for c in comments(runner) if c["id"] not in (900, 901)]
    assert str(ours["body"]).startswith(MARKER) and "ds-read" in str(ours["body"])


def test_a_long_plan_is_split_into_sticky_parts(
    runner: WorkflowRunner, emulator: RunningEmulator
) -> None:
    """Over GitHub's comment limit the plan comes in parts, each sticky by its own marker; a
    shorter plan later removes the parts it no longer needs."""
    entries = "".join(
        textwrap.dedent(
            f"""\
              - name: t{index:03d}
                user: user{index}@example.com
                description: {"a long description to fill the comment " * 10}{index}
                scope: repos:read
                resources: [pypi]
            """
        )
        for index in range(150)
    )
    spec = runner.workspace / "tokens.yaml"
    original = spec.read_text()
    spec.write_text(original.split("tokens:\n")[0] + "tokens:\n" + entries)
    pull_request = contexts(emulator, event="pull_request")
    assert runner.run_job(PLAN, "plan", pull_request).outcome == "success"
    parts = comments(runner)
    assert len(parts) >= 2
    assert [str(c["body"]).splitlines()[0] for c in parts] == [
        f"<!-- ppm-tokens:plan-comment part {n} -->" for n in range(len(parts))
    ]
    assert all(len(str(c["body"])) <= 65536 for c in parts)

    spec.write_text(original)
    assert runner.run_job(PLAN, "plan", pull_request).outcome == "success"
    (only,) = comments(runner)
    assert str(only["body"]).startswith(MARKER)


ROTATE = WORKFLOWS / "tokens-rotate.yml"


def test_the_scheduled_rotation_applies_then_audits(
    runner: WorkflowRunner, emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    """The rotate job converges the namespace, then its audit step runs against what it left:
    a clean namespace has no error-level finding, so the job (and no failure issue) passes."""
    rotate = runner.run_job(ROTATE, "rotate", contexts(emulator, event="schedule"))
    outcomes = [(s.name, s.outcome, s.stdout[-400:], s.stderr[-400:]) for s in rotate.steps]
    assert rotate.outcome == "success", outcomes
    assert step(rotate, "Rotate and retire")["summary"].startswith("Apply complete: 2 created")
    audit = next(s for s in rotate.steps if s.name.startswith("Audit"))
    assert audit.outcome == "success"
    assert audit.outputs["exitcode"] == "0"
    assert audit.outputs["summary"] == "audit passed"
    assert Path(audit.outputs["output-path"]).read_text() in rotate.summary
    assert_no_values(runner, emulator_control, [rotate])


# A repository of several specs: a tokens/ directory on two servers -----------------------------

EXTRA_TOKEN = "PPM_EU_TOKEN: ${{ secrets.PPM_EU_TOKEN }}"


def for_a_directory(workflow: Path, into: Path) -> Path:
    """The template with the edits README's "Many specs in one repository" asks for: `files:
    tokens/`, and the second server's token variable next to PACKAGEMANAGER_TOKEN. Everything
    else (every run: step, the action) is the template's own."""
    text = workflow.read_text()
    edited = text.replace("files: tokens.yaml", "files: tokens/")
    edited = edited.replace(
        "PACKAGEMANAGER_TOKEN: ${{ secrets.PACKAGEMANAGER_TOKEN }}\n",
        "PACKAGEMANAGER_TOKEN: ${{ secrets.PACKAGEMANAGER_TOKEN }}\n          "
        + EXTRA_TOKEN
        + "\n",
    )
    assert edited.count("files: tokens/") >= 1 and EXTRA_TOKEN in edited
    path = into / workflow.name
    path.write_text(edited)
    return path


def directory_spec(namespace: str, server: str, store: Path, token_env: str = "") -> str:
    text = SPEC.format(store=store).replace("namespace: ci\n", f"namespace: {namespace}\n")
    server_lines = f"server:\n  url: {server}\n" + (
        f"  token_env: {token_env}\n" if token_env else ""
    )
    return text.replace("defaults:\n", server_lines + "defaults:\n", 1)


def test_a_tokens_directory_on_two_servers_makes_one_sticky_comment(
    runner: WorkflowRunner,
    emulator: RunningEmulator,
    emulator_control: EmulatorControl,
    tmp_path: Path,
) -> None:
    """Three specs (two servers, three namespaces) in tokens/: validate, one plan comment for
    all of them, one apply, and the comment updated in place by the next plan."""
    state = tmp_path / "eu-state"
    eu = start_emulator(db_path=state / "eu.sqlite3", admin_token_file=state / "admin.token")
    try:
        tokens = runner.workspace / "tokens"
        (tokens / "eu").mkdir(parents=True)
        stores = tmp_path / "stores"
        (tokens / "ci.yaml").write_text(directory_spec("ci", emulator.url, stores / "ci"))
        (tokens / "ci-data.yml").write_text(directory_spec("ci-data", emulator.url, stores / "d"))
        (tokens / "eu" / "eu.yaml").write_text(
            directory_spec("eu", eu.url, stores / "eu", token_env="PPM_EU_TOKEN")
        )
        plan_workflow = for_a_directory(PLAN, tmp_path)
        apply_workflow = for_a_directory(APPLY, tmp_path)

        def github(event: str) -> Contexts:
            # No PACKAGEMANAGER_ADDRESS variable: each spec names its server.
            base = contexts(emulator, event=event)
            base.vars = {}
            base.secrets = {**base.secrets, "PPM_EU_TOKEN": eu.admin_token()}
            return base

        def plan() -> list[JobResult]:
            jobs = [runner.run_job(plan_workflow, "validate", github("pull_request"))]
            jobs.append(runner.run_job(plan_workflow, "plan", github("pull_request")))
            return jobs

        jobs = plan()
        validate, planned = jobs
        assert validate.outcome == "success", validate.steps[-1].stderr
        assert "ppm-tokens validate: valid" in validate.summary
        assert "3 files valid" in validate.summary
        assert planned.outcome == "success", [(s.name, s.stderr[-600:]) for s in planned.steps]
        outputs = step(planned, "Plan")
        assert outputs["exitcode"] == "2"
        assert outputs["summary"] == "6 create"
        saved = json.loads(Path(outputs["plan-path"]).read_text())
        assert [p["namespace"] for p in saved["plans"]] == ["ci-data", "ci", "eu"]

        (comment,) = comments(runner)
        body = str(comment["body"])
        assert body.startswith(MARKER + "\n## ppm-tokens plan: 3 specs on 2 servers\n")
        for path in ("tokens/ci\\.yaml", "tokens/ci\\-data\\.yml", "tokens/eu/eu\\.yaml"):
            assert f"### <code>{path}</code>" in body
        assert "Merging applies these changes (6 create)" in body

        apply = runner.run_job(apply_workflow, "apply", github("push"))
        assert apply.outcome == "success", [s.stdout[-600:] + s.stderr[-600:] for s in apply.steps]
        applied = step(apply, "Apply")
        assert applied["summary"] == "Apply complete for 3 specs: 3 succeeded, 0 failed."

        jobs += [apply, *plan()]
        assert step(jobs[-1], "Plan")["exitcode"] == "0"
        (comment,) = comments(runner)
        assert "Nothing to apply (no changes)." in str(comment["body"])
        calls = [name for name, _ in runner.github_api()["calls"]]
        assert calls.count("createComment") == 1
        assert calls.count("updateComment") == 1
        assert_no_values(runner, emulator_control, jobs)
        with EmulatorControl(eu.url, eu.admin_token()) as eu_control:
            values = [*eu_control.issued_values(), eu.admin_token()]
        texts = [*runner.logs, json.dumps(runner.github_api()), *(job.summary for job in jobs)]
        assert [text for text in texts for value in values if value in text] == []
    finally:
        eu.stop()
