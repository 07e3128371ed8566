"""The workflows and the action pass zizmor (offline) and GitHub's schemas, follow the rules the
README promises (pinned actions, least privilege, no untrusted expansion in `run:`, separate
concurrency for plan and apply), and the action installs only hash-pinned dependencies."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workflow_runner import SELF_ACTION

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTION = ROOT / "action.yml"
LOCK = ROOT / "requirements.lock"
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def tool(name: str, *args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    jobs = document["jobs"].values() if "jobs" in document else [document["runs"]]
    return [step for job in jobs for step in job.get("steps", [])]


# The tools, on the real files and on a bad copy (so a finding does fail the run) --------------


def test_zizmor_finds_nothing() -> None:
    run = tool("zizmor", "--offline", "--no-progress", ".")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No findings" in run.stdout + run.stderr


def test_zizmor_auditor_persona_finds_nothing_medium_or_worse() -> None:
    run = tool(
        "zizmor", "--offline", "--no-progress", "--persona", "auditor", "--min-severity",
        "medium", ".",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_zizmor_fails_on_a_finding(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    text = re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v4", text)
    (bad / "ci.yml").write_text(text.replace("persist-credentials: false", "fetch-depth: 1"))
    run = tool("zizmor", "--offline", "--no-progress", ".", cwd=tmp_path)
    assert run.returncode != 0
    assert "unpinned-uses" in run.stdout
    assert "artipacked" in run.stdout


def test_actionlint_finds_nothing() -> None:
    run = tool("actionlint", "-no-color", *WORKFLOWS)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == ""


def test_actionlint_fails_on_this_repository_s_action_named_without_its_path(
    tmp_path: Path,
) -> None:
    """GitHub reads `$/` as the start of a path in the workflow's own repository, not as the
    repository's root action: without the directory it is not a valid reference."""
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (tmp_path / "action.yml").write_text(ACTION.read_text())
    plan = (ROOT / ".github" / "workflows" / "tokens-plan.yml").read_text()
    assert f"uses: {SELF_ACTION}\n" in plan
    (bad / "tokens-plan.yml").write_text(plan.replace(f"uses: {SELF_ACTION}\n", "uses: $/\n"))
    run = tool("actionlint", "-no-color", bad / "tokens-plan.yml", cwd=tmp_path)
    assert run.returncode != 0
    assert "path is missing" in run.stdout


@pytest.mark.parametrize(
    ("schema", "paths"),
    [("vendor.github-workflows", WORKFLOWS), ("vendor.github-actions", [ACTION])],
    ids=["workflows", "action"],
)
def test_github_schemas_accept_the_files(schema: str, paths: list[Path]) -> None:
    run = tool("check-jsonschema", "--builtin-schema", schema, *paths)
    assert run.returncode == 0, run.stdout + run.stderr


def test_github_schema_fails_on_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "action.yml"
    bad.write_text(ACTION.read_text().replace("using: composite", "using: compost"))
    run = tool("check-jsonschema", "--builtin-schema", "vendor.github-actions", bad)
    assert run.returncode != 0


# The rules, checked directly -----------------------------------------------------------------


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_every_action_is_pinned_with_its_version_in_a_comment(path: Path) -> None:
    lines = path.read_text().splitlines()
    uses = [
        line.split("uses:", 1)[1].strip()
        for line in lines
        if line.strip().removeprefix("- ").startswith("uses:")
    ]
    assert uses or path.name == "action.yml"
    for ref in uses:
        if ref == SELF_ACTION:
            continue  # this repository's own action, at the same commit
        target, _, comment = ref.partition("#")
        assert PINNED.match(target.strip()), ref
        assert re.match(r"^\s*v\d+\.\d+\.\d+$", comment), ref


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_persisted_credentials(path: Path) -> None:
    document = load(path)
    assert document["permissions"] == {}  # nothing by default; each job asks for its own
    for name, job in document["jobs"].items():
        assert "permissions" in job, name
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name
        granted = {k for k, v in job["permissions"].items() if v == "write"}
        if "id-token" in granted:  # jobs that read the stores or publish, behind an environment
            assert (path.name, name) in STORE_JOBS | PUBLISH_JOBS, name
            assert job["environment"], name


# The jobs that run plan, apply or audit: each reads the spec's stores, so each needs the same
# way to cloud credentials (plan reads store metadata to find what needs repair).
STORE_JOBS = {
    ("tokens-plan.yml", "plan"),
    ("tokens-apply.yml", "apply"),
    ("tokens-rotate.yml", "rotate"),
}
# The job that publishes to PyPI with trusted publishing (and signs the provenance attestation).
PUBLISH_JOBS = {("release.yml", "publish")}


def test_every_job_that_reads_the_stores_can_get_cloud_credentials() -> None:
    found = set()
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            commands = {
                s.get("with", {}).get("command")
                for s in job.get("steps", [])
                if s.get("uses") == SELF_ACTION
            }
            if commands & {"plan", "apply", "audit"}:
                found.add((path.name, name))
                assert job["permissions"].get("id-token") == "write", (path.name, name)
                credentials = [
                    s
                    for s in job["steps"]
                    if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
                ]
                assert len(credentials) == 1, (path.name, name)
                assert credentials[0]["if"] == "vars.AWS_ROLE_ARN != ''"
                uses = [s.get("uses") for s in job["steps"]]
                first_use = uses.index(SELF_ACTION)
                assert job["steps"].index(credentials[0]) < first_use, (path.name, name)
    assert found == STORE_JOBS


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_no_expression_expanded_inside_run(path: Path) -> None:
    for step in steps(load(path)):
        assert "${{" not in step.get("run", ""), step.get("name", step)


def test_plan_and_apply_never_share_a_concurrency_group() -> None:
    groups = {p.name: load(p).get("concurrency", {}) for p in WORKFLOWS}
    apply, rotate, plan = (
        groups["tokens-apply.yml"],
        groups["tokens-rotate.yml"],
        groups["tokens-plan.yml"],
    )
    assert apply["group"] == rotate["group"]
    assert apply["cancel-in-progress"] is False and rotate["cancel-in-progress"] is False
    assert plan["group"] != apply["group"]
    assert "pull_request.number" in plan["group"]


def test_the_plan_job_gets_the_token_only_through_a_protected_environment() -> None:
    plan = load(ROOT / ".github" / "workflows" / "tokens-plan.yml")
    validate, job = plan["jobs"]["validate"], plan["jobs"]["plan"]
    assert "secrets." not in yaml.safe_dump(validate)
    assert job["environment"]
    assert "head.repo.full_name == github.repository" in job["if"]  # forks: validate only
    assert "secrets." not in yaml.safe_dump({k: v for k, v in job.items() if k != "steps"})
    with_secret = [s for s in job["steps"] if "secrets." in yaml.safe_dump(s)]
    assert [s.get("uses") for s in with_secret] == [SELF_ACTION]


def test_no_workflow_installs_from_an_index_by_name() -> None:
    for path in [*WORKFLOWS, ACTION]:
        for step in steps(load(path)):
            for line in step.get("run", "").replace("\\\n", " ").splitlines():
                if "pip install" in line and "-r " not in line:
                    assert "GITHUB_ACTION_PATH" in line or "--no-index" in line, line
    install = steps(load(ACTION))[0]["run"]
    assert "--require-hashes" in install
    assert "requirements.lock" in install


# The lock file ---------------------------------------------------------------------------------


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def locked(lock: Path = LOCK) -> dict[str, str]:
    pins: dict[str, str] = {}
    text = lock.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement, *hashes = line.split("--hash=")
        name, _, version = requirement.strip().partition("==")
        assert version, f"not pinned with ==: {line[:60]}"
        assert hashes and all(h.strip().startswith("sha256:") for h in hashes), name
        pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def test_the_lock_pins_every_runtime_and_build_dependency_by_hash() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = locked()
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    missing = [_name(r) for r in wanted if _name(r) not in pins]
    assert not missing, f"run `make lock`: requirements.lock lacks {missing}"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_lock_is_tracked() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "requirements.lock", "action.yml"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert listed.returncode == 0


# The release workflow --------------------------------------------------------------------------

RELEASE = ROOT / ".github" / "workflows" / "release.yml"
RELEASE_LOCK = ROOT / "requirements-release.lock"


def test_release_runs_on_a_version_tag_and_publishes_only_what_it_built() -> None:
    release = load(RELEASE)
    assert release[True] == {"push": {"tags": ["v*"]}}  # YAML 1.1 reads the key `on` as True
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    assert publish["needs"] == "build"
    assert publish["environment"]["name"] == "pypi"
    assert publish["permissions"] == {"id-token": "write", "attestations": "write"}
    assert not [s for s in publish["steps"] if "run" in s or "checkout" in s.get("uses", "")]
    used = [s["uses"].split("@")[0] for s in publish["steps"]]
    assert used == [
        "actions/download-artifact",
        "actions/attest-build-provenance",
        "pypa/gh-action-pypi-publish",
    ]
    runs = "\n".join(s.get("run", "") for s in build["steps"])
    assert "--require-hashes" in runs and "-r requirements-release.lock" in runs
    assert "python -m build --no-isolation" in runs
    assert "twine check --strict" in runs
    assert '"v$version" != "$GITHUB_REF_NAME"' in runs  # the tag must name the version


def test_the_release_tools_are_locked_by_hash() -> None:
    pins = locked(RELEASE_LOCK)
    wanted = [
        line.strip()
        for line in (ROOT / "requirements-release.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert wanted and not [r for r in wanted if _name(r) not in pins]
    # The lock's setuptools must satisfy what pyproject.toml asks of the build backend.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (backend,) = project["build-system"]["requires"]
    floor = tuple(int(p) for p in backend.split(">=")[1].split("."))
    assert tuple(int(p) for p in pins["setuptools"].split(".")[: len(floor)]) >= floor
