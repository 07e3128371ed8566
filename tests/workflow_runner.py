"""Run a GitHub Actions workflow's jobs from the YAML itself, the way a runner would, here.

Every `run:` step runs in order with bash, with the environment GitHub gives a step
(GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ENV, GITHUB_WORKSPACE, RUNNER_TEMP, ...), its `env:`
evaluated, and its outputs read back. Only `uses:` steps are replaced, each by its documented
effect:
  actions/checkout          the repository is in the workspace (it is, already)
  actions/setup-python      python3 is on PATH (the test's interpreter)
  $/. (this repository)     the composite action's own steps, run the same way
  actions/github-script     the script, run by Node.js with a recording stand-in for the API
  actions/upload-artifact   the file is there to upload (recorded)
Anything else is refused, so a new `uses:` cannot slip past the test.

Expressions (`${{ }}`) are evaluated for context references, string literals, `==`, `!=`,
`&&`, `||`, `!` and the status functions; anything else is refused.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# How the workflows name this repository's own action (action.yml at its root), at the commit
# the workflow runs from: `$/` and the action's directory.
SELF_ACTION = "$/."

NODE_HARNESS = r"""
const fs = require('fs');
const [stateFile, scriptFile, contextFile] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
const context = JSON.parse(fs.readFileSync(contextFile, 'utf8'));
const record = (name, args) => state.calls.push([name, args]);
const issues = {
  listComments: async ({issue_number}) => {
    record('listComments', {issue_number});
    return {data: state.comments.filter((c) => c.issue_number === issue_number)};
  },
  createComment: async ({issue_number, body}) => {
    record('createComment', {issue_number, body});
    const user = {login: 'github-actions[bot]', type: 'Bot'};  // GITHUB_TOKEN's identity
    const comment = {id: state.nextId++, issue_number, body, user};
    state.comments.push(comment);
    return {data: comment};
  },
  updateComment: async ({comment_id, body}) => {
    record('updateComment', {comment_id, body});
    state.comments.find((c) => c.id === comment_id).body = body;
    return {data: {}};
  },
  deleteComment: async ({comment_id}) => {
    record('deleteComment', {comment_id});
    state.comments = state.comments.filter((c) => c.id !== comment_id);
    return {data: {}};
  },
  listForRepo: async ({labels}) => {
    record('listForRepo', {labels});
    return {data: state.issues.filter((i) => i.state === 'open' && i.labels.includes(labels))};
  },
  create: async ({title, body, labels}) => {
    record('create', {title, body, labels});
    const issue = {number: state.nextId++, title, body, labels, state: 'open'};
    state.issues.push(issue);
    return {data: issue};
  },
};
const github = {rest: {issues}, paginate: async (fn, args) => (await fn(args)).data};
const core = {setFailed: (m) => { state.failed = String(m); }, info: (m) => console.log(m)};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const script = fs.readFileSync(scriptFile, 'utf8');
new AsyncFunction('github', 'context', 'core', 'require', script)(github, context, core, require)
  .then(() => fs.writeFileSync(stateFile, JSON.stringify(state)))
  .catch((error) => { console.error(error); process.exit(1); });
"""

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))|"
    r"(?P<call>(?:success|failure|always|cancelled)\(\))|(?P<ref>[A-Za-z_][\w.-]*))"
)


_OPERATORS = {"&&": " and ", "||": " or ", "!": " not "}


class Unsupported(Exception):
    """The workflow uses something this runner does not model; the test must say so."""


@dataclass
class Contexts:
    github: dict[str, Any]
    vars: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: bool = False

    def lookup(self, ref: str) -> Any:
        head, *rest = ref.split(".")
        roots: dict[str, Any] = {
            "github": self.github,
            "vars": self.vars,
            "secrets": self.secrets,
            "env": self.env,
            "inputs": self.inputs,
            "steps": self.steps,
        }
        if head not in roots:
            raise Unsupported(f"context {head!r} in {ref!r}")
        value: Any = roots[head]
        for part in rest:
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else value

    def evaluate(self, expression: str) -> Any:
        python: list[str] = []
        position = 0
        while position < len(expression):
            match = _TOKEN.match(expression, position)
            if match is None or match.end() == position:
                raise Unsupported(f"expression {expression!r}")
            position = match.end()
            if match["string"] is not None:
                python.append(repr(match["string"][1:-1].replace("''", "'")))
            elif match["op"] is not None:
                python.append(
                    {"&&": " and ", "||": " or ", "!": " not "}.get(match["op"], match["op"])
                )
            elif match["call"] is not None:
                python.append(match["call"].replace("()", "_"))
            else:
                python.append(repr(self.lookup(match["ref"])))
        names = {
            "success_": not self.failed,
            "failure_": self.failed,
            "always_": True,
            "cancelled_": False,
        }
        return eval("".join(python), {"__builtins__": {}}, names)

    def render(self, value: Any) -> str:
        """A string with every `${{ }}` replaced by its value."""
        text = str(value)
        return _EXPRESSION.sub(lambda m: str(self.evaluate(m[1])), text)

    def condition(self, expression: str | None) -> bool:
        if expression is None:
            return not self.failed
        inner = _EXPRESSION.fullmatch(expression.strip())
        result = bool(self.evaluate(inner[1] if inner else expression))
        if "failure()" not in expression and "always()" not in expression and self.failed:
            return False
        return result


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    outputs: dict[str, str]
    stdout: str = ""
    stderr: str = ""


@dataclass
class JobResult:
    name: str
    outcome: str
    steps: list[StepResult]
    summary: str


def parse_output_file(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            outputs[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


@dataclass
class WorkflowRunner:
    """Runs jobs of one repository checkout: `workspace` holds the repository."""

    workspace: Path
    runner_temp: Path
    base_env: Mapping[str, str]
    github_state: Path  # the recorded API state github-script steps read and change
    artifacts: list[tuple[str, Path]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.github_state.exists():
            self.github_state.write_text(
                json.dumps({"comments": [], "issues": [], "calls": [], "nextId": 1})
            )

    def github_api(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.github_state.read_text())
        return data

    def run_job(self, workflow: Path, job_name: str, contexts: Contexts) -> JobResult:
        document = yaml.safe_load(workflow.read_text())
        job = document["jobs"][job_name]
        if "if" in job and not contexts.condition(str(job["if"])):
            return JobResult(job_name, "skipped", [], "")
        github = contexts.github
        env = {
            "GITHUB_REPOSITORY": str(github["repository"]),
            "GITHUB_SERVER_URL": str(github["server_url"]),
            "GITHUB_RUN_ID": str(github["run_id"]),
            "GITHUB_SHA": str(github["sha"]),
            "GITHUB_EVENT_NAME": str(github["event_name"]),
        }
        declared = {**document.get("env", {}), **job.get("env", {})}
        env.update({k: contexts.render(v) for k, v in declared.items()})
        contexts.env = env
        contexts.steps = {}
        contexts.failed = False
        summary: list[str] = []
        results = []
        for index, step in enumerate(job["steps"]):
            result = self._step(step, index, env, contexts, summary)
            results.append(result)
            if "id" in step:
                contexts.steps[step["id"]] = {"outputs": result.outputs, "outcome": result.outcome}
            if result.outcome == "failure":
                contexts.failed = True
        return JobResult(
            job_name, "failure" if contexts.failed else "success", results, "".join(summary)
        )

    # One step ----------------------------------------------------------------------------------

    def _step(
        self,
        step: dict[str, Any],
        index: int,
        job_env: dict[str, str],
        contexts: Contexts,
        summary: list[str],
    ) -> StepResult:
        name = str(step.get("name", step.get("uses", f"step {index}")))
        if not contexts.condition(step.get("if")):
            return StepResult(name, "skipped", {})
        env = {**job_env, **{k: contexts.render(v) for k, v in step.get("env", {}).items()}}
        if "run" in step:
            return self._run(name, step, env, summary, action_path=None)
        uses = str(step["uses"])
        inputs = {k: contexts.render(v) for k, v in step.get("with", {}).items()}
        if uses == SELF_ACTION:
            return self._composite(name, inputs, env, contexts, summary)
        action = uses.split("@", maxsplit=1)[0]
        if action == "actions/checkout":
            if inputs.get("persist-credentials") != "False":
                raise Unsupported("checkout must not persist credentials")
            return StepResult(name, "success", {})
        if action == "actions/setup-python":
            return StepResult(name, "success", {})
        if action == "actions/upload-artifact":
            path = Path(inputs["path"])
            if not path.is_file():
                return StepResult(name, "failure", {}, stderr=f"no file at {path}")
            self.artifacts.append((inputs["name"], path))
            return StepResult(name, "success", {})
        if action == "actions/github-script":
            return self._github_script(name, inputs["script"], env, contexts)
        raise Unsupported(f"uses: {uses}")

    def _environment(self, env: Mapping[str, str], files: dict[str, Path]) -> dict[str, str]:
        return {
            **self.base_env,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(self.runner_temp),
            **{name: str(path) for name, path in files.items()},
            **env,
        }

    def _run(
        self,
        name: str,
        step: dict[str, Any],
        env: dict[str, str],
        summary: list[str],
        action_path: Path | None,
    ) -> StepResult:
        scratch = self.runner_temp / "_step"
        scratch.mkdir(parents=True, exist_ok=True)
        files = {
            "GITHUB_OUTPUT": scratch / "output",
            "GITHUB_STEP_SUMMARY": scratch / "summary",
            "GITHUB_ENV": scratch / "env",
            "GITHUB_PATH": scratch / "path",
        }
        for path in files.values():
            path.write_text("")
        script = scratch / "script.sh"
        script.write_text(str(step["run"]))
        extra = {"GITHUB_ACTION_PATH": str(action_path)} if action_path else {}
        shell = step.get("shell")
        command = (
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
            if shell == "bash"
            else ["bash", "-e", str(script)]
        )
        if shell not in (None, "bash"):
            raise Unsupported(f"shell: {shell}")
        completed = subprocess.run(
            command,
            cwd=self.workspace / step.get("working-directory", "."),
            env=self._environment({**env, **extra}, files),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        self.logs.append(completed.stdout + completed.stderr)
        summary.append(files["GITHUB_STEP_SUMMARY"].read_text())
        if files["GITHUB_PATH"].read_text().strip() or files["GITHUB_ENV"].read_text().strip():
            raise Unsupported("GITHUB_PATH / GITHUB_ENV writes are not expected")
        outcome = "success" if completed.returncode == 0 else "failure"
        outputs = parse_output_file(files["GITHUB_OUTPUT"].read_text())
        return StepResult(name, outcome, outputs, completed.stdout, completed.stderr)

    def _composite(
        self,
        name: str,
        given: dict[str, str],
        env: dict[str, str],
        caller: Contexts,
        summary: list[str],
    ) -> StepResult:
        action_file = self.workspace / "action.yml"
        action = yaml.safe_load(action_file.read_text())
        inputs = {k: str(spec.get("default", "")) for k, spec in action["inputs"].items()}
        unknown = set(given) - set(inputs)
        if unknown:
            raise Unsupported(f"unknown inputs {sorted(unknown)}")
        inputs.update(given)
        missing = [
            k for k, spec in action["inputs"].items() if spec.get("required") and not inputs[k]
        ]
        if missing:
            return StepResult(name, "failure", {}, stderr=f"missing inputs {missing}")
        contexts = Contexts(github=caller.github, inputs=inputs, env=env)
        results = []
        for step in action["runs"]["steps"]:
            if "run" not in step:
                raise Unsupported("the action's steps are expected to be run: steps")
            if not contexts.condition(step.get("if")):
                continue
            step_env = {**env, **{k: contexts.render(v) for k, v in step.get("env", {}).items()}}
            result = self._run(str(step.get("name")), step, step_env, summary, action_file.parent)
            results.append(result)
            if "id" in step:
                contexts.steps[step["id"]] = {"outputs": result.outputs}
            if result.outcome == "failure":
                contexts.failed = True
                break
        outputs = {k: contexts.render(spec["value"]) for k, spec in action["outputs"].items()}
        outcome = "failure" if contexts.failed else "success"
        return StepResult(
            name,
            outcome,
            outputs,
            "".join(r.stdout for r in results),
            "".join(r.stderr for r in results),
        )

    def _github_script(
        self, name: str, script: str, env: dict[str, str], contexts: Contexts
    ) -> StepResult:
        scratch = self.runner_temp / "_script"
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "harness.js").write_text(NODE_HARNESS)
        (scratch / "script.js").write_text(script)
        github = contexts.github
        owner, repo = str(github["repository"]).split("/")
        pull = github.get("event", {}).get("pull_request", {})
        context = {
            "repo": {"owner": owner, "repo": repo},
            "issue": {"owner": owner, "repo": repo, "number": pull.get("number")},
            "serverUrl": github["server_url"],
            "runId": github["run_id"],
        }
        (scratch / "context.json").write_text(json.dumps(context))
        completed = subprocess.run(
            [
                "node",
                str(scratch / "harness.js"),
                str(self.github_state),
                str(scratch / "script.js"),
                str(scratch / "context.json"),
            ],
            env=self._environment(env, {}),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.logs.append(completed.stdout + completed.stderr)
        outcome = "success" if completed.returncode == 0 else "failure"
        return StepResult(name, outcome, {}, completed.stdout, completed.stderr)


def python_on_path(path: str) -> str:
    """setup-python's effect: a Python 3.11+ first on PATH (the one running the tests)."""
    return os.pathsep.join([str(Path(sys.executable).parent), path])
